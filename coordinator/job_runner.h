// The job loop: every prompt of the suite searched with the spec's method, generations of
// several prompts in flight at once on an Executor (in process or on MPI workers), progress
// checkpointed per generation, and the answers written out as images and results.json.
#pragma once

#include <string>

#include "common/status.h"
#include "coordinator/executor.h"
#include "evosearch/bundle.pb.h"
#include "evosearch/job.pb.h"

namespace evosearch {

struct RunOptions {
  bool restart = false;  // discard earlier progress in the output folder
};

// Runs the search loop on `executor`. `manifest` names the rewards; `steps` is the sampler's T.
StatusOr<proto::JobResults> run_search_job(const proto::JobSpec& spec, const proto::BundleManifest& manifest, int steps,
                                           Executor& executor, const RunOptions& options);

// The table printed at the end of a run.
std::string summary_table(const proto::JobResults& results);

}  // namespace evosearch
