// Plain sampling (no search): rollouts from noise through the same backend `evosearch run`
// uses, each sample decoded and scored by every reward of the bundle.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/bundle.h"
#include "worker/samplers.h"

namespace evosearch {

struct GenerateOptions {
  SamplerConfig sampler;
  double guidance_scale = 1.0;
  int batch_size = 16;  // candidates per denoiser call (doubled inside by CFG)
  uint64_t seed = 0;    // sample i of a prompt is candidate i of generation 0 of a job with this seed
};

struct Samples {
  at::Tensor pixels;                        // [N, *pixel_shape] on the CPU
  std::vector<std::vector<double>> scores;  // scores[reward][sample]
  int64_t nfe = 0;                          // denoiser calls summed over samples (a CFG pair is one)
};

// `count` samples of `prompt`. `progress(done, total)` is called after each batch.
StatusOr<Samples> generate(Bundle& bundle, const std::string& prompt, int count, const GenerateOptions& options,
                           const std::function<void(int64_t, int64_t)>& progress = nullptr);

}  // namespace evosearch
