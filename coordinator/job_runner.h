// A job from its spec to its results: the job store opened (the output folder's files, or a
// Redis job shared with other coordinators), the job's identity checked (a resume with other
// answer-deciding inputs is refused naming them), this run's prompts searched on an Executor (in
// process or on MPI workers; coordinator/job_loop.h), and the answers written out: images and
// videos, results.json, results-official.json and report.html.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "coordinator/executor.h"
#include "coordinator/job_results.h"
#include "evosearch/bundle.pb.h"
#include "evosearch/job.pb.h"
#include "jobs/job_store.h"

namespace evosearch {

// Keeps a batch-size choice for later jobs, setting its `profile` (coordinator/job_setup.h).
using BatchProfileWrite = std::function<void(proto::BatchSizeChoice& choice)>;

struct RunOptions {
  bool restart = false;        // discard the job's earlier progress and the files it wrote
  std::string job_store;       // overrides the spec's job_store ("" keeps it)
  double lease_seconds = 60;   // how long a claimed prompt stays this run's without renewal
  double store_timeout = 300;  // how long the job store may be out of reach before the run stops (exit 75)
  std::vector<int64_t> pixel_shape;  // the decoder's output per sample, for the memory estimate (empty: unknown)
  // The batch size the executor runs at and why (results.json totals.batch_size; a measured one is
  // kept in the job record for resumes). Unset: the spec's batch_size, "fixed".
  proto::BatchSizeChoice batch_size;
  double calibration_seconds = 0;  // measuring it (totals.phases.calibration)
  // Where measured batch sizes are kept for later jobs (coordinator/batch_profile.h; `evosearch
  // run` sets batch_profile_folder()). Empty: none read or written.
  std::string batch_profiles;
  // Called once with the run's batch-size choice when the job is accepted (its record stored or
  // matched, the output folder locked), before any rollout: a run refused before that writes
  // nothing outside its job (the batch-size profile waits for this). Empty: none.
  BatchProfileWrite on_accepted;
  // Tests: wraps each job store object below its retries, `user` saying whose it is ("loop", or
  // "keeper": the lease keeper's): a layer that loses replies, say. Empty: none.
  std::function<std::unique_ptr<JobStore>(std::unique_ptr<JobStore> store, const std::string& user)> store_layer;
};

// Exit status of `evosearch run` when the job finished but some prompts failed (results.json
// `failed`): distinct from 0 (every prompt done), 1 (an error) and 75 (stopped, resume later).
constexpr int kExitSomePromptsFailed = 3;

// Runs the job on `executor`. Prompts that failed (JobSpec.max_attempts) are in results.failed. `manifest` names the rewards; `steps` is the sampler's T.
StatusOr<proto::JobResults> run_job(const proto::JobSpec& spec, const proto::BundleManifest& manifest, int steps,
                                           Executor& executor, const RunOptions& options);

}  // namespace evosearch
