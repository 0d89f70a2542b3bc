// Logging set up once per process: every line says rank and job, and nothing is formatted
// below the active level (spdlog checks the level before formatting).
#pragma once

#include <string>

#include <spdlog/spdlog.h>

#include "common/status.h"

namespace evosearch {

struct LogContext {
  int rank = 0;
  std::string job = "-";
};

// level: trace, debug, info, warn, error, off.
Status setup_logging(const std::string& level, const LogContext& context);

}  // namespace evosearch
