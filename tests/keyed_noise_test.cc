// Keyed noise as tensors: the CPU draw is the scalar reference (fill_standard_normal) bit for
// bit, whatever the thread count; so is the tensor-op draw, which a CUDA device runs, checked
// here on the CPU: its Philox words and its floats.
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/keyed_rng.h"
#include "worker/keyed_noise.h"
#include "worker/runtime.h"

namespace evosearch {
namespace {

// The latent of an 81-frame 480p Wan 2.1 video: 16 channels, 21 latent frames, 60 x 104.
const std::vector<int64_t> kWanLatent{16, 21, 60, 104};

std::vector<NoiseKey> many_keys(uint32_t n) {
  std::vector<NoiseKey> keys;
  for (uint32_t i = 0; i < n; ++i) {
    keys.push_back(NoiseKey{7 + i % 2, prompt_key("prompt " + std::to_string(i % 3)), i % 4, i, (7 * i) % 30, i % 3});
  }
  return keys;
}

int64_t count(at::IntArrayRef shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// [keys, per_row] floats from the scalar reference loop.
at::Tensor reference(const std::vector<NoiseKey>& keys, int64_t per_row) {
  at::Tensor out = at::empty({static_cast<int64_t>(keys.size()), per_row}, at::TensorOptions().dtype(at::kFloat));
  for (size_t b = 0; b < keys.size(); ++b) fill_standard_normal(keys[b], out[b].data_ptr<float>(), per_row);
  return out;
}

// How many elements of two float tensors differ in any bit.
int64_t bit_differences(const at::Tensor& a, const at::Tensor& b) {
  return a.contiguous().view(at::kInt).ne(b.contiguous().view(at::kInt)).sum().item<int64_t>();
}

TEST(KeyedNormalCpu, IsTheReferenceBitForBitForAnyThreadCount) {
  const std::vector<NoiseKey> keys = many_keys(13);
  // Odd and even counts, and rows that end inside, at, and just past a task's 16384 elements.
  const std::vector<std::vector<int64_t>> shapes{{1}, {2}, {3}, {7, 5, 3}, {17, 31, 63}, {16383}, {16384}, {16385}, {49153}};
  for (int threads : {1, 2, 3}) {
    ScopedComputeThreads scope(threads);
    for (const std::vector<int64_t>& shape : shapes) {
      const at::Tensor x = keyed_normal(keys, shape, at::kCPU);
      ASSERT_EQ(x.dim(), static_cast<int64_t>(shape.size()) + 1);
      EXPECT_EQ(x.scalar_type(), at::kFloat);
      EXPECT_EQ(bit_differences(x.view({13, -1}), reference(keys, count(shape))), 0)
          << threads << " threads, " << count(shape) << " elements per row";
    }
  }
}

TEST(KeyedNormalCpu, WanSizedRowsAreTheReference) {
  ScopedComputeThreads scope(2);
  const std::vector<NoiseKey> keys = many_keys(2);
  const at::Tensor x = keyed_normal(keys, kWanLatent, at::kCPU);
  EXPECT_EQ(bit_differences(x.view({2, -1}), reference(keys, count(kWanLatent))), 0);
}

TEST(KeyedNormalCpu, ElementDependsOnlyOnKeyAndIndex) {
  ScopedComputeThreads scope(2);
  const std::vector<NoiseKey> keys = many_keys(5);
  const at::Tensor longer = keyed_normal(keys, {40001}, at::kCPU);
  EXPECT_EQ(bit_differences(longer.narrow(1, 0, 12345), keyed_normal(keys, {12345}, at::kCPU)), 0);
  // A range of the draw, from an odd or an even element, is that slice of the whole.
  for (size_t begin : {size_t{0}, size_t{1}, size_t{16383}, size_t{20000}}) {
    std::vector<float> part(40001 - begin - 3);
    fill_standard_normal(keys[3], part.data(), begin, begin + part.size());
    const at::Tensor slice = longer[3].narrow(0, static_cast<int64_t>(begin), static_cast<int64_t>(part.size()));
    EXPECT_EQ(bit_differences(at::from_blob(part.data(), {static_cast<int64_t>(part.size())}, at::kFloat), slice), 0)
        << "from element " << begin;
  }
}

TEST(KeyedNormal, EmptyDrawsHaveTheirShape) {
  EXPECT_EQ(keyed_normal({}, {3, 2}, at::kCPU).sizes(), (std::vector<int64_t>{0, 3, 2}));
  EXPECT_EQ(keyed_normal(many_keys(2), {0, 4}, at::kCPU).sizes(), (std::vector<int64_t>{2, 0, 4}));
  EXPECT_EQ(keyed_normal_ops({}, {3, 2}, at::kCPU).sizes(), (std::vector<int64_t>{0, 3, 2}));
  EXPECT_EQ(keyed_normal_ops(many_keys(2), {0, 4}, at::kCPU).sizes(), (std::vector<int64_t>{2, 0, 4}));
}

at::Tensor words(const std::vector<uint32_t>& values) {
  return at::tensor(std::vector<int64_t>(values.begin(), values.end()), at::TensorOptions().dtype(at::kLong));
}

// The Random123 known answers (as in keyed_rng_test), three blocks at once.
TEST(PhiloxTensor, MatchesPublishedKnownAnswers) {
  const PhiloxWords out = philox4x32_10({words({0, 0xffffffff, 0x243f6a88}), words({0, 0xffffffff, 0x85a308d3}),
                                         words({0, 0xffffffff, 0x13198a2e}), words({0, 0xffffffff, 0x03707344})},
                                        words({0, 0xffffffff, 0xa4093822}), words({0, 0xffffffff, 0x299f31d0}));
  EXPECT_TRUE(at::equal(out[0], words({0x6627e8d5, 0x408f276d, 0xd16cfe09})));
  EXPECT_TRUE(at::equal(out[1], words({0xe169c58d, 0x41c83b0e, 0x94fdcceb})));
  EXPECT_TRUE(at::equal(out[2], words({0xbc57ac4c, 0xa20bc7c6, 0x5001e420})));
  EXPECT_TRUE(at::equal(out[3], words({0x9b00dbd8, 0x6d5451fd, 0x24126ea1})));
}

TEST(PhiloxTensor, MatchesTheScalarBlockOnRandomWords) {
  constexpr size_t kBlocks = 20000;
  std::vector<double> u(6 * kBlocks);
  fill_uniform(NoiseKey{5, 0, 0, 0, 0, 17}, u.data(), u.size());
  std::vector<uint32_t> in(u.size());
  for (size_t i = 0; i < u.size(); ++i) in[i] = static_cast<uint32_t>(u[i] * 4294967296.0);
  std::vector<std::vector<uint32_t>> lane(6), expected(4);
  for (size_t j = 0; j < kBlocks; ++j) {
    for (size_t w = 0; w < 6; ++w) lane[w].push_back(in[6 * j + w]);
    const PhiloxCounter r = philox4x32_10({in[6 * j], in[6 * j + 1], in[6 * j + 2], in[6 * j + 3]}, {in[6 * j + 4], in[6 * j + 5]});
    for (size_t w = 0; w < 4; ++w) expected[w].push_back(r[w]);
  }
  const PhiloxWords out =
      philox4x32_10({words(lane[0]), words(lane[1]), words(lane[2]), words(lane[3])}, words(lane[4]), words(lane[5]));
  for (size_t w = 0; w < 4; ++w) EXPECT_TRUE(at::equal(out[w], words(expected[w]))) << "word " << w;
}

TEST(KeyedNormalOps, IsTheReferenceBitForBit) {
  const std::vector<NoiseKey> keys = many_keys(11);
  for (const std::vector<int64_t>& shape : std::vector<std::vector<int64_t>>{{1}, {3}, {7, 5, 3}, {17, 31, 63}, {40001}}) {
    // Whole rows in one pass, several rows per pass, and rows cut into passes of odd lengths.
    for (int64_t blocks_per_pass : {int64_t{1} << 20, int64_t{4000}, int64_t{333}, int64_t{1}}) {
      if (blocks_per_pass == 1 && count(shape) > 1000) continue;  // one block per pass: slow
      SCOPED_TRACE(testing::Message() << count(shape) << " elements per row, " << blocks_per_pass << " blocks per pass");
      const at::Tensor x = keyed_normal_ops(keys, shape, at::kCPU, blocks_per_pass);
      ASSERT_EQ(x.dim(), static_cast<int64_t>(shape.size()) + 1);
      EXPECT_EQ(x.scalar_type(), at::kFloat);
      EXPECT_EQ(bit_differences(x.view({11, -1}), reference(keys, count(shape))), 0);
    }
  }
}

TEST(KeyedNormalOps, WanSizedRowsAreTheReference) {
  const std::vector<NoiseKey> keys = many_keys(3);
  const at::Tensor x = keyed_normal_ops(keys, kWanLatent, at::kCPU);
  EXPECT_EQ(bit_differences(x.view({3, -1}), reference(keys, count(kWanLatent))), 0);
}

}  // namespace
}  // namespace evosearch
