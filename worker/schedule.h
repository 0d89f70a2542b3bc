// The noise level at every sampler step: x_i = alpha_i * x0 + sigma_i * noise, for step
// i = 0 (noise) .. T (clean). Computed once per (model, steps, shift).
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "evosearch/bundle.pb.h"
#include "worker/sampler_config.h"

namespace evosearch {

struct Schedule {
  std::vector<double> alpha;    // signal coefficient per step, size T+1
  std::vector<double> sigma;    // noise coefficient per step, size T+1; sigma[T] = 0
  std::vector<double> model_t;  // the denoiser's time input per step (unused at T)

  int64_t steps() const { return static_cast<int64_t>(alpha.size()) - 1; }
};

// Variance-preserving diffusion, "trailing" timestep spacing: step i uses train timestep
// round(N - i*N/T) - 1 (so step 0 is the noisiest, N-1), and step T is the clean sample.
StatusOr<Schedule> make_diffusion_schedule(const proto::DiffusionSchedule& spec, int steps);

// Rectified flow: sigma goes linearly from 1 to 0 over T steps, then the time shift
// sigma' = shift*sigma / (1 + (shift-1)*sigma) is applied; alpha = 1 - sigma.
StatusOr<Schedule> make_flow_schedule(const proto::FlowSchedule& spec, int steps, double shift);

// The schedule a sampler needs for the bundle's model kind (validates the sampler first).
StatusOr<Schedule> make_schedule(const proto::BundleManifest& manifest, const SamplerConfig& sampler);

// Applies the manifest's defaults for unset schedule fields.
proto::DiffusionSchedule with_defaults(proto::DiffusionSchedule spec);
proto::FlowSchedule with_defaults(proto::FlowSchedule spec);

}  // namespace evosearch
