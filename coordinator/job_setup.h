// From a job spec and a bundle to what runs it: the sampler, the executor options, and the
// embedded (one-process) job.
#pragma once

#include <memory>

#include "common/status.h"
#include "coordinator/job_runner.h"
#include "evosearch/job.pb.h"
#include "worker/bundle.h"
#include "worker/torch_backend.h"

namespace evosearch {

// The spec's sampler settings over the bundle's defaults, validated (errors name the field).
StatusOr<SamplerConfig> sampler_config(const proto::JobSpec& spec, const proto::BundleManifest& manifest);

// A backend that runs the spec's rollouts on `bundle`.
StatusOr<std::unique_ptr<TorchBackend>> make_torch_backend(const proto::JobSpec& spec, Bundle& bundle);

// The whole job in this process (the embedded default).
StatusOr<proto::JobResults> run_job(const proto::JobSpec& spec, Bundle& bundle, const RunOptions& options);

}  // namespace evosearch
