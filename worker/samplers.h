// Samplers as small pure functions over a denoise callback. They see tensors of any shape
// [B, ...] (image latents [B,C,H,W], video latents [B,C,F,H,W]), a Schedule, and callbacks
// for the model and the noise; they never touch modules, files or devices.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "common/status.h"
#include "evosearch/bundle.pb.h"
#include "worker/sampler_config.h"
#include "worker/schedule.h"

namespace evosearch {

// x0 estimate of the batch `x` at sampler step `step` (0..T-1).
using DenoiseFn = std::function<at::Tensor(const at::Tensor& x, int64_t step)>;
// Standard normal noise shaped like the batch, used by the transition step -> step+1.
using NoiseFn = std::function<at::Tensor(int64_t step)>;

struct RolloutRange {
  int64_t start = 0;           // the step index of the input state
  int64_t end = -1;            // where to stop; -1 means T (the clean sample)
  std::vector<int64_t> keep;   // steps in [start, end] whose states to return (state *at* that step)
  at::Tensor start_x0;         // the x0 estimate at `start` if already known (saves one model call)
};

struct RolloutOutput {
  at::Tensor x;                                          // the state at `end`
  std::vector<std::pair<int64_t, at::Tensor>> kept;      // in increasing step order
  int64_t model_calls = 0;                               // denoiser calls per candidate (NFE)
};

// One transition from step i to i+1, given the x0 estimate at step i. Exposed for tests.
at::Tensor ddim_step(const Schedule& s, int64_t i, const at::Tensor& x, const at::Tensor& x0, double eta,
                     const at::Tensor& noise);
at::Tensor euler_step(const Schedule& s, int64_t i, const at::Tensor& x, const at::Tensor& x0);
// prev_x0 is the x0 estimate at step i-1 (second order), or undefined for first order.
at::Tensor dpmpp_sde_step(const Schedule& s, int64_t i, const at::Tensor& x, const at::Tensor& x0,
                          const at::Tensor& prev_x0, const at::Tensor& noise);

// Runs the sampler over [range.start, range.end]. A rollout that starts at step s > 0 takes
// its first DPMPP_SDE step at first order (there is no history yet): the result depends on
// the start step only, never on what ran before.
RolloutOutput run_sampler(const SamplerConfig& config, const Schedule& schedule, at::Tensor x,
                          const DenoiseFn& denoise, const NoiseFn& noise, const RolloutRange& range);

// The standard deviation of the fresh noise each transition i -> i+1 injects (size T; zero
// for deterministic samplers). EvoSearch's intermediate-state mutation uses it (Eq. 8).
std::vector<double> step_noise_std(const SamplerConfig& config, const Schedule& schedule);


}  // namespace evosearch
