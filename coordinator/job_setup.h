// From a job spec and an opened bundle to what runs it: the backend on the bundle's tensors, and
// the embedded (one-process) job.
#pragma once

#include <memory>

#include "common/status.h"
#include "coordinator/job_runner.h"
#include "evosearch/job.pb.h"
#include "worker/batch_calibration.h"
#include "worker/bundle.h"
#include "worker/torch_backend.h"

namespace evosearch {

// A backend that runs the spec's rollouts on `bundle`; `should_stop` is asked before every
// denoiser call (BackendOptions). It decodes in sub-batches when the job's memory estimate on one
// of `workers` workers needs that to fit memory_limit_mb (coordinator/memory_estimate.h).
// `batch_size`: candidates per denoiser call (0: the spec's batch_size).
StatusOr<std::unique_ptr<TorchBackend>> make_torch_backend(const proto::JobSpec& spec, Bundle& bundle,
                                                           std::function<bool()> should_stop, int workers = 1,
                                                           int batch_size = 0);

// The batch size an embedded run uses (JobSpec.batch_size_policy): the spec's batch_size when
// "fixed" (or unset, in a spec built in code); for "auto", the size the stored job was created
// with when this run resumes it, else the one a profile in options.batch_profiles keeps for this
// device, bundle and settings (coordinator/batch_profile.h), else the fastest size up to
// batch_size measured on `bundle` (worker/batch_calibration.h) and kept there; "measure" skips
// the profile. `timer` replaces the denoiser's timing (tests). With `deferred`, a measured size is
// not kept at once: `*deferred` is set to the write (RunOptions::on_accepted), for when the job
// is accepted.
StatusOr<proto::BatchSizeChoice> choose_batch_size(const proto::JobSpec& spec, Bundle& bundle, const RunOptions& options,
                                                   double& calibration_seconds, const BatchTimer& timer = {},
                                                   BatchProfileWrite* deferred = nullptr);

// search.model_seconds_budget: plans the search (coordinator/job_spec.h plan_search) from the
// call costs the stored job was planned with when this run resumes it, so a resume anywhere runs
// the same search; else from costs measured now on `bundle` at `batch` (worker/call_costs.h).
// Costs already in spec.search.plan (set in code; a spec file's plan is cleared) are used as given.
// Without a bundle (a distributed coordinator) a new job is refused, naming what to do. Nothing
// for other budgets.
Status plan_seconds_budget(proto::JobSpec& spec, const proto::BundleManifest& manifest, Bundle* bundle,
                           const RunOptions& options, int batch);

// The whole job in this process (the embedded default).
StatusOr<proto::JobResults> run_embedded_job(const proto::JobSpec& spec, Bundle& bundle, const RunOptions& options);

}  // namespace evosearch
