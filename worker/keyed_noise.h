// Tensors of keyed noise: row b of the batch is a pure function of keys[b], so a candidate's
// noise does not depend on which batch, device or process draws it.
#pragma once

#include <array>
#include <vector>

#include <ATen/ATen.h>

#include "common/keyed_rng.h"
#include "worker/samplers.h"

namespace evosearch {

// A [keys.size(), *sample_shape] float32 tensor of standard normals, made on `device`. On the
// CPU it is fill_standard_normal's numbers bit for bit (split over the intra-op threads); on
// any other device it is keyed_normal_ops, within float32 rounding of them.
at::Tensor keyed_normal(const std::vector<NoiseKey>& keys, at::IntArrayRef sample_shape, at::Device device);

// The same draw as tensor arithmetic on `device` (Philox in int64, Box-Muller in float64):
// what a CUDA device runs. On the CPU only for tests: ATen's vectorised log/sin/cos need not
// round like the C library's, so its floats may differ from the reference in the last bit.
// It works through at most `blocks_per_pass` Philox blocks (two elements each) at a time, to
// bound its temporaries (about ten int64 or float64 tensors of that size).
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
