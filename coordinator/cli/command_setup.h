// What every subcommand does first: logging, compute threads, device, and the bundle.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "common/logging.h"
#include "coordinator/cli/commands.h"
#include "worker/bundle.h"

namespace evosearch {

// Sets up logging, threads and the device, then opens (and validates) the bundle.
// `rank`/`local_rank`: where this process sits in an MPI launch (logs say the rank; "auto"
// spreads a host's ranks over its GPUs).
StatusOr<std::unique_ptr<Bundle>> open_bundle_for_command(const CommonOptions& common, const std::string& dir,
                                                          const std::string& job = "-", int rank = -1, int local_rank = 0);

// --dtype over the spec's model_dtype: the flag is written into the spec (a job's identity records
// it, so a resume needs the same), else the spec's value is what opens the bundle.
void resolve_model_dtype(CommonOptions& common, proto::JobSpec& spec);

// Logs `status` as the reason the command failed and returns exit code 1.
int fail(const Status& status);

}  // namespace evosearch
