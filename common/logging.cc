#include "common/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace evosearch {

Status setup_logging(const std::string& level, const LogContext& context) {
  const auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    return InvalidArgument("--log-level: unknown level '" + level +
                           "' (expected trace, debug, info, warn, error or off)");
  }
  auto logger = spdlog::get("evosearch");
  if (!logger) logger = spdlog::stderr_color_mt("evosearch");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [rank " + std::to_string(context.rank) +
                      " job " + context.job + "] %v");
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
  return Status::Ok();
}

}  // namespace evosearch
