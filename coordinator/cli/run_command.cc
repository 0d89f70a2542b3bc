// `evosearch run SPEC`: the main job.
#include <iostream>

#include "cluster/launch.h"
#include "coordinator/cli/command_setup.h"
#include "coordinator/job_setup.h"
#include "coordinator/job_spec.h"

namespace evosearch {

int run_job_command(const CommonOptions& common, const RunCommandOptions& options) {
  if (detect_launch().world_size > 1) return run_distributed_job(common, options);
  auto spec = load_job_spec(options.spec);
  if (!spec.ok()) return fail(spec.status());
  CommonOptions effective = common;
  if (effective.device.empty()) effective.device = spec->device();
  auto bundle = open_bundle_for_command(effective, spec->bundle(), spec->name());
  if (!bundle.ok()) return fail(bundle.status());
  RunOptions run;
  run.restart = options.restart;
  auto results = run_job(*spec, **bundle, run);
  if (!results.ok()) {
    fail(results.status());
    // 75 (EX_TEMPFAIL): stopped by a signal with everything checkpointed; running again resumes.
    return results.status().code() == StatusCode::kUnavailable ? 75 : 1;
  }
  std::cout << summary_table(*results);
  spdlog::info("wrote {}/results.json and {} images", spec->output(), results->prompts_size());
  return 0;
}

}  // namespace evosearch
