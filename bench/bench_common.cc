#include "bench_common.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "coordinator/job_setup.h"

namespace evosearch::bench {

proto::JobSpec job(const std::string& bundle, const std::string& prompts, const std::string& scratch,
                   const std::string& name) {
  proto::JobSpec spec;
  spec.set_name(name);
  spec.set_bundle(bundle);
  spec.set_prompts(prompts);
  spec.set_output((std::filesystem::path(scratch) / name).string());
  spec.set_batch_size(32);
  spec.set_prompts_in_flight(8);
  spec.set_device("auto");
  spec.mutable_search()->set_method("evosearch");
  return spec;
}

StatusOr<proto::JobResults> run(const proto::JobSpec& spec, Bundle& bundle) {
  RunOptions options;
  options.restart = true;
  // --restart lists the output folder first; a fresh benchmark folder must exist for that.
  std::error_code ec;
  std::filesystem::create_directories(spec.output(), ec);
  return run_embedded_job(spec, bundle, options);
}

void check(const Status& status) {
  if (status.ok()) return;
  std::fprintf(stderr, "benchmark failed: %s\n", status.to_string().c_str());
  std::exit(1);
}

}  // namespace evosearch::bench
