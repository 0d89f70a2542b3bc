// Shared by the benchmarks: run a job spec in this process and read back its results.
#pragma once

#include <string>

#include "common/status.h"
#include "evosearch/job.pb.h"
#include "worker/bundle.h"

namespace evosearch::bench {

// A job spec for `bundle` over `prompts`, writing to a fresh folder under `scratch`.
proto::JobSpec job(const std::string& bundle, const std::string& prompts, const std::string& scratch,
                   const std::string& name);

// Runs `spec` on `bundle` from scratch (no resume) and returns its results.
StatusOr<proto::JobResults> run(const proto::JobSpec& spec, Bundle& bundle);

// Dies with a message when `status` is an error.
void check(const Status& status);

}  // namespace evosearch::bench
