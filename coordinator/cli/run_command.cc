// `evosearch run SPEC`: the main job.
#include <iostream>

#include "cluster/launch.h"
#include "coordinator/batch_profile.h"
#include "coordinator/cli/command_setup.h"
#include "coordinator/cli/job_store_choice.h"
#include "coordinator/job_setup.h"
#include "coordinator/job_spec.h"

namespace evosearch {

RunOptions run_options(const RunCommandOptions& options) {
  RunOptions run;
  run.restart = options.restart;
  run.job_store = options.job_store;
  run.lease_seconds = options.lease_seconds;
  run.store_timeout = options.store_timeout;
  run.batch_profiles = batch_profile_folder();
  return run;
}

int run_job_command(const CommonOptions& common, const RunCommandOptions& given) {
  RunCommandOptions options = given;
  auto job_store = choose_job_store(given.job_store, given.job_store_file);
  if (!job_store.ok()) return fail(job_store.status());
  options.job_store = *job_store;
  options.job_store_file.clear();
  if (detect_launch().world_size > 1) return run_distributed_job(common, options);
  auto spec = load_job_spec(options.spec);
  if (!spec.ok()) return fail(spec.status());
  CommonOptions effective = common;
  if (effective.device.empty()) effective.device = spec->device();
  resolve_model_dtype(effective, *spec);
  auto bundle = open_bundle_for_command(effective, spec->bundle(), spec->name());
  if (!bundle.ok()) {
    fail(bundle.status());
    return bundle.status().code() == StatusCode::kUnavailable ? 75 : 1;  // a reward service not up yet
  }
  auto results = run_embedded_job(*spec, **bundle, run_options(options));
  if (!results.ok()) {
    fail(results.status());
    // 75 (EX_TEMPFAIL): stopped (a signal, the job store out of reach) with everything
    // checkpointed; running again resumes.
    return results.status().code() == StatusCode::kUnavailable ? 75 : 1;
  }
  std::cout << summary_table(*results);
  spdlog::info("wrote {}/results.json and {} images", spec->output(), results->prompts_size());
  return results->failed_size() > 0 ? kExitSomePromptsFailed : 0;
}

}  // namespace evosearch
