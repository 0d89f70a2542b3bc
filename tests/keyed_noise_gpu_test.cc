// Keyed noise drawn on a CUDA device: the Philox words and the floats exactly the CPU's (the
// pair formula, common/normal_pair.h, uses only operations IEEE 754 rounds the same way on
// both), so a search starts from the same noise on either. Skipped cleanly without a GPU.
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "common/keyed_rng.h"
#include "worker/keyed_noise.h"

namespace evosearch {
namespace {

const at::Device kCuda(at::kCUDA, 0);

class KeyedNoiseGpu : public testing::Test {
 protected:
  void SetUp() override {
    if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  }
};

std::vector<NoiseKey> many_keys(uint32_t n) {
  std::vector<NoiseKey> keys;
  for (uint32_t i = 0; i < n; ++i) keys.push_back(NoiseKey{3 + i % 2, 1000 + i % 3, i % 4, i, (5 * i) % 30, i % 3});
  return keys;
}

at::Tensor reference(const std::vector<NoiseKey>& keys, int64_t per_row) {
  at::Tensor out = at::empty({static_cast<int64_t>(keys.size()), per_row}, at::TensorOptions().dtype(at::kFloat));
  for (size_t b = 0; b < keys.size(); ++b) fill_standard_normal(keys[b], out[b].data_ptr<float>(), per_row);
  return out;
}

// Bit for bit: the count of elements that differ in any bit is 0.
void expect_same_bits(const at::Tensor& on_device, const at::Tensor& ref) {
  ASSERT_TRUE(on_device.is_cuda());
  ASSERT_EQ(on_device.scalar_type(), at::kFloat);
  const at::Tensor x = on_device.cpu().contiguous().view(ref.sizes());
  const int64_t differ = x.view(at::kInt).ne(ref.contiguous().view(at::kInt)).sum().item<int64_t>();
  EXPECT_EQ(differ, 0) << "of " << ref.numel() << " elements; largest difference "
                       << (x - ref).abs().max().item<float>();
}

TEST_F(KeyedNoiseGpu, PhiloxWordsAreTheCpuWords) {
  // Counters and keys spread over all 32 bits, so every product wraps int64 somewhere.
  const at::Tensor in =
      at::randint(0, int64_t{1} << 32, {6, 100000}, at::TensorOptions().dtype(at::kLong));
  const PhiloxWords cpu = philox4x32_10({in[0], in[1], in[2], in[3]}, in[4], in[5]);
  const at::Tensor d = in.to(kCuda);
  const PhiloxWords cuda = philox4x32_10({d[0], d[1], d[2], d[3]}, d[4], d[5]);
  for (size_t w = 0; w < 4; ++w) EXPECT_TRUE(at::equal(cuda[w].cpu(), cpu[w])) << "word " << w;
}

TEST_F(KeyedNoiseGpu, DrawsAreTheReferenceBitForBit) {
  const std::vector<NoiseKey> keys = many_keys(9);
  for (const std::vector<int64_t>& shape : std::vector<std::vector<int64_t>>{{1}, {3}, {7, 5, 3}, {4, 64, 64}, {40001}}) {
    int64_t per_row = 1;
    for (int64_t d : shape) per_row *= d;
    const at::Tensor ref = reference(keys, per_row);
    expect_same_bits(keyed_normal(keys, shape, kCuda), ref);
    expect_same_bits(keyed_normal_ops(keys, shape, kCuda, 333), ref);  // rows cut into passes
  }
}

TEST_F(KeyedNoiseGpu, WanSizedRowsAreTheReferenceBitForBit) {
  const std::vector<NoiseKey> keys = many_keys(3);
  const std::vector<int64_t> wan_latent{16, 21, 60, 104};
  expect_same_bits(keyed_normal(keys, wan_latent, kCuda), reference(keys, 16 * 21 * 60 * 104));
}

TEST_F(KeyedNoiseGpu, StepNoiseIsTheCpuStepNoise) {
  const std::vector<NoiseKey> keys = many_keys(4);
  const NoiseFn cuda = keyed_step_noise(keys, {3, 17}, kCuda);
  const NoiseFn cpu = keyed_step_noise(keys, {3, 17}, at::kCPU);
  for (int64_t step : {0, 1, 29}) expect_same_bits(cuda(step), cpu(step));
}

}  // namespace
}  // namespace evosearch
