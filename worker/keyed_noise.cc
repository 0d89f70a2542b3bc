#include "worker/keyed_noise.h"

#include <utility>

namespace evosearch {

at::Tensor keyed_normal(const std::vector<NoiseKey>& keys, at::IntArrayRef sample_shape, at::Device device) {
  std::vector<int64_t> shape{static_cast<int64_t>(keys.size())};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  at::Tensor out = at::empty(shape, at::TensorOptions().dtype(at::kFloat));
  const int64_t per_sample = keys.empty() ? 0 : out.numel() / static_cast<int64_t>(keys.size());
  float* data = out.data_ptr<float>();
  for (size_t b = 0; b < keys.size(); ++b) fill_standard_normal(keys[b], data + b * per_sample, per_sample);
  return device.is_cpu() ? out : out.to(device);
}

NoiseFn keyed_step_noise(std::vector<NoiseKey> keys, std::vector<int64_t> sample_shape, at::Device device) {
  return [keys = std::move(keys), shape = std::move(sample_shape), device](int64_t step) {
    std::vector<NoiseKey> at_step = keys;
    for (NoiseKey& k : at_step) {
      k.step = static_cast<uint32_t>(step);
      k.stream = kStepNoise;
    }
    return keyed_normal(at_step, shape, device);
  };
}

}  // namespace evosearch
