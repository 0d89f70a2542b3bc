// Tensors of keyed noise: row b of the batch is a pure function of keys[b], so a candidate's
// noise does not depend on which batch, device or process draws it.
#pragma once

#include <array>
#include <vector>

#include <ATen/ATen.h>

#include "common/keyed_rng.h"
#include "worker/samplers.h"

namespace evosearch {

// A [keys.size(), *sample_shape] float32 tensor of standard normals, made on `device`: row b is
// fill_standard_normal(keys[b]) bit for bit. On the CPU the vectorised loop
// (common/keyed_normal_fast.h) split over the intra-op threads; on any other device
// keyed_normal_ops.
at::Tensor keyed_normal(const std::vector<NoiseKey>& keys, at::IntArrayRef sample_shape, at::Device device);

// The same draw as tensor arithmetic on `device` (Philox in int64, the pair formula of
// common/normal_pair.h in float64, each operation rounded once as IEEE 754 rounds it): what a
// CUDA device runs, and on the CPU the same bits as the reference (tested there).
// It works through at most `blocks_per_pass` Philox blocks (two elements each) at a time, to
// bound its temporaries (about a dozen int64 or float64 tensors of that size).
at::Tensor keyed_normal_ops(const std::vector<NoiseKey>& keys, at::IntArrayRef sample_shape, at::Device device,
                            int64_t blocks_per_pass = int64_t{1} << 20);

// Philox4x32-10 on int64 tensors that each hold 32-bit words (values in [0, 2^32)), on their
// device; the operands broadcast together. Returns the four output words.
using PhiloxWords = std::array<at::Tensor, 4>;
PhiloxWords philox4x32_10(PhiloxWords counter, at::Tensor key0, at::Tensor key1);

// Sampler noise for a batch whose candidates are `keys`: the draw for step i uses each key
// with `step` = i and `stream` = kStepNoise, so it never repeats the initial noise.
NoiseFn keyed_step_noise(std::vector<NoiseKey> keys, std::vector<int64_t> sample_shape, at::Device device);

}  // namespace evosearch
