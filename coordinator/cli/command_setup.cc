#include "coordinator/cli/command_setup.h"

#include <iostream>

#include "cluster/launch.h"
#include "common/logging.h"
#include "worker/module_loader.h"
#include "worker/runtime.h"

namespace evosearch {

StatusOr<std::unique_ptr<Bundle>> open_bundle_for_command(const CommonOptions& common, const std::string& dir,
                                                          const std::string& job, int rank, int local_rank) {
  RETURN_IF_ERROR(setup_logging(common.log_level, LogContext{rank < 0 ? detect_launch().rank : rank, job}));
  set_compute_threads(common.threads);
  ASSIGN_OR_RETURN(const at::Device device,
                   choose_device_for_rank(common.device.empty() ? "auto" : common.device, local_rank));
  spdlog::info("{}", runtime_summary(device));
  spdlog::info("loading bundle {}", dir);
  BundleOptions options;
  options.dtype = common.dtype;
  options.dtype_field = common.dtype_field;
  return Bundle::open(dir, device, options);
}

void resolve_model_dtype(CommonOptions& common, proto::JobSpec& spec) {
  if (!common.dtype.empty()) {
    spec.set_model_dtype(common.dtype);
  } else {
    common.dtype = spec.model_dtype();
    common.dtype_field = "model_dtype";
  }
}

int fail(const Status& status) {
  if (spdlog::get("evosearch")) {
    spdlog::error("{}", status.message());
  } else {
    std::cerr << "error: " << status.message() << "\n";
  }
  return 1;
}

std::string version_text() {
  return "evosearch 0.1.0 (LibTorch " + torch_version_string() + "; " + build_features() +
         ", module formats: " + loadable_module_formats() + ")";
}

}  // namespace evosearch
