// The single-machine job: every prompt of the suite searched with the spec's method, the
// generations of several prompts interleaved into shared batches, and the answers written
// out as images and results.json.
#pragma once

#include <string>

#include "common/status.h"
#include "evosearch/job.pb.h"
#include "worker/bundle.h"

namespace evosearch {

struct RunOptions {
  bool restart = false;  // discard earlier progress in the output folder
};

// Runs the job on `bundle` and returns what results.json holds.
StatusOr<proto::JobResults> run_job(const proto::JobSpec& spec, Bundle& bundle, const RunOptions& options);

// The table printed at the end of a run.
std::string summary_table(const proto::JobResults& results);

}  // namespace evosearch
