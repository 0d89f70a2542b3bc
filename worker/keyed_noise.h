// Tensors of keyed noise: row b of the batch is a pure function of keys[b], so a candidate's
// noise does not depend on which batch, device or process draws it.
#pragma once

#include <vector>

#include <ATen/ATen.h>

#include "common/keyed_rng.h"
#include "worker/samplers.h"

namespace evosearch {

// A [keys.size(), *sample_shape] float32 tensor of standard normals on `device`. Drawn on
// the CPU, so CPU and CUDA runs see the same numbers.
at::Tensor keyed_normal(const std::vector<NoiseKey>& keys, at::IntArrayRef sample_shape, at::Device device);

// Sampler noise for a batch whose candidates are `keys`: the draw for step i uses each key
// with `step` = i and `stream` = kStepNoise, so it never repeats the initial noise.
NoiseFn keyed_step_noise(std::vector<NoiseKey> keys, std::vector<int64_t> sample_shape, at::Device device);

}  // namespace evosearch
