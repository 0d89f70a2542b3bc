#include <cmath>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "common/keyed_normal_fast.h"
#include "common/keyed_rng.h"
#include "worker/keyed_noise.h"

namespace evosearch {
namespace {

// Known-answer vectors from the Random123 distribution (kat_vectors, philox4x32_10).
TEST(Philox, MatchesPublishedKnownAnswers) {
  EXPECT_EQ(philox4x32_10({0, 0, 0, 0}, {0, 0}), (PhiloxCounter{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (PhiloxCounter{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (PhiloxCounter{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

std::vector<float> draw(const NoiseKey& key, size_t n) {
  std::vector<float> out(n);
  fill_standard_normal(key, out.data(), n);
  return out;
}

TEST(KeyedRng, SameKeySameNumbersAndPrefixesAgree) {
  const NoiseKey key{7, prompt_key("a dark sneaker"), 2, 5, 30, 0};
  EXPECT_EQ(draw(key, 1001), draw(key, 1001));
  const std::vector<float> longer = draw(key, 1001), shorter = draw(key, 37);
  EXPECT_TRUE(std::equal(shorter.begin(), shorter.end(), longer.begin()));
}

TEST(KeyedRng, EveryKeyFieldChangesTheDraw) {
  const NoiseKey base{7, 11, 2, 5, 30, 0};
  const std::vector<float> reference = draw(base, 64);
  std::vector<NoiseKey> variants(6, base);
  variants[0].seed++;
  variants[1].prompt++;
  variants[2].generation++;
  variants[3].candidate++;
  variants[4].step++;
  variants[5].stream++;
  for (const NoiseKey& v : variants) EXPECT_NE(draw(v, 64), reference);
}

TEST(KeyedRng, PromptKeyIsStableAndDistinguishesTexts) {
  EXPECT_EQ(prompt_key("a bag"), prompt_key("a bag"));
  EXPECT_NE(prompt_key("a bag"), prompt_key("a bag "));
  EXPECT_NE(prompt_key(""), prompt_key("a"));
}

TEST(KeyedRng, DrawsAreStandardNormal) {
  const std::vector<float> x = draw(NoiseKey{1, 2, 3, 4, 5, 6}, 400000);
  double sum = 0, sq = 0, fourth = 0;
  size_t beyond_two = 0;
  for (float v : x) {
    sum += v;
    sq += double(v) * v;
    fourth += double(v) * v * v * v;
    beyond_two += std::fabs(v) > 2.0f;
  }
  const double n = static_cast<double>(x.size());
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sq / n, 1.0, 0.01);
  EXPECT_NEAR(fourth / n, 3.0, 0.05);
  EXPECT_NEAR(beyond_two / n, 0.0455, 0.002);  // two-sided tail of N(0,1) beyond 2
}

// Noise formula 2's first floats for one key (common/normal_pair.h), as bits; a separate Python
// transcription of the formula gives the same. If this fails the formula changed, and with it
// every answer: a job created by an older build must not be resumed by this one, so
// kNoiseFormula (common/keyed_rng.h) goes up with the new values.
TEST(KeyedRng, FormulaTwoKnownAnswers) {
  ASSERT_EQ(kNoiseFormula, 2u);
  const std::vector<float> x = draw(NoiseKey{7, prompt_key("a dark sneaker"), 2, 5, 30, 1}, 8);
  std::vector<uint32_t> bits(x.size());
  std::memcpy(bits.data(), x.data(), x.size() * sizeof(float));
  EXPECT_EQ(bits, (std::vector<uint32_t>{0x3e4362cf, 0xbf7fe6b7, 0x3f85cb2f, 0x4004e0ab, 0xbe126a1e, 0x3f05cac4,
                                         0x3f7bde09, 0xbfdb2943}));
}

// The polynomials stand for log, sin and cos: every float is within one float32 step of the
// textbook Box-Muller computed with the C library's functions on the same u and angle.
TEST(KeyedRng, PairsAreTheCLibraryBoxMullerWithinOneFloatStep) {
  const NoiseKey key{11, 12, 13, 14, 15, 1};
  constexpr size_t kBlocks = size_t{1} << 17;
  const std::vector<float> x = draw(key, 2 * kBlocks);
  const PhiloxStream d = philox_stream(key);
  size_t exact = 0;
  for (size_t j = 0; j < kBlocks; ++j) {
    const PhiloxCounter r = philox4x32_10({static_cast<uint32_t>(j), 0, static_cast<uint32_t>(d.counter_hi),
                                           static_cast<uint32_t>(d.counter_hi >> 32)},
                                          d.key);
    const double u = static_cast<double>(((uint64_t{r[0]} << 32 | r[1]) >> 12) + 1) * 0x1p-52;
    const uint64_t w = uint64_t{r[2]} << 32 | r[3];
    const double phi = M_PI / 4 * (static_cast<double>(w >> 12) * 0x1p-52);
    const double rho = std::sqrt(-2 * std::log(u));
    const double c = std::cos(phi), s = std::sin(phi);
    const double a = ((w & 1) ? s : c) * rho, b = ((w & 1) ? c : s) * rho;
    const float expected[2] = {static_cast<float>((w & 2) ? -a : a), static_cast<float>((w & 4) ? -b : b)};
    for (int h = 0; h < 2; ++h) {
      const float got = x[2 * j + h], want = expected[h];
      const float step = std::nextafter(std::fabs(want), INFINITY) - std::fabs(want);
      ASSERT_LE(std::fabs(got - want), step) << "block " << j << " element " << h;
      exact += got == want;
    }
  }
  // Typically all of them: the polynomials err far below a float32 step.
  EXPECT_GE(exact, 2 * kBlocks * 999 / 1000);
}

// The vectorised loop, in every build this CPU runs, is the scalar reference bit for bit, for
// ranges that start and end on odd and even elements, inside and across its 128-block batches.
TEST(KeyedNormalFast, EveryBuildIsTheReferenceBitForBit) {
  const NoiseKey key{7, prompt_key("a bag"), 3, 9, 12, 1};
  const std::vector<float> whole = draw(key, 5000);
  const std::vector<std::pair<size_t, size_t>> ranges{{0, 0},   {0, 1},     {0, 2},    {1, 2},     {1, 3},
                                                      {0, 255}, {0, 256},   {0, 257},  {255, 258}, {3, 4999},
                                                      {256, 512}, {1000, 5000}, {4999, 5000}};
  for (VectorBuild build : runnable_vector_builds()) {
    for (const auto& [begin, end] : ranges) {
      std::vector<float> part(end - begin + 1, -7.0f);  // one past the end: must stay untouched
      fill_standard_normal_fast(key, part.data(), begin, end, build);
      for (size_t i = begin; i < end; ++i) {
        ASSERT_EQ(std::memcmp(&part[i - begin], &whole[i], sizeof(float)), 0)
            << vector_build_name(build) << ", range [" << begin << ", " << end << "), element " << i;
      }
      EXPECT_EQ(part.back(), -7.0f) << vector_build_name(build) << " wrote past the range's end";
    }
  }
}

TEST(KeyedRng, UniformsCoverTheUnitInterval) {
  std::vector<double> u(100000);
  fill_uniform(NoiseKey{3, 0, 0, 0, 0, 9}, u.data(), u.size());
  double sum = 0;
  for (double v : u) {
    ASSERT_GE(v, 0.0);
    ASSERT_LT(v, 1.0);
    sum += v;
  }
  EXPECT_NEAR(sum / u.size(), 0.5, 0.005);
}

TEST(KeyedNoise, CandidateNoiseIndependentOfBatch) {
  const std::vector<int64_t> shape{2, 3, 5};
  std::vector<NoiseKey> batch;
  for (uint32_t c = 0; c < 6; ++c) batch.push_back(NoiseKey{42, 9, 1, c, 0, 0});
  const at::Tensor together = keyed_normal(batch, shape, at::kCPU);
  ASSERT_EQ(together.sizes(), (std::vector<int64_t>{6, 2, 3, 5}));
  // The same candidate drawn alone, or in a reversed batch, gets the same tensor.
  for (size_t c = 0; c < batch.size(); ++c) {
    EXPECT_TRUE(at::equal(together[c], keyed_normal({batch[c]}, shape, at::kCPU)[0]));
  }
  std::vector<NoiseKey> reversed(batch.rbegin(), batch.rend());
  EXPECT_TRUE(at::equal(together.flip(0), keyed_normal(reversed, shape, at::kCPU)));
}

TEST(KeyedNoise, StepNoiseUsesTheStepField) {
  const std::vector<NoiseKey> keys{NoiseKey{1, 2, 0, 0, 0, 0}, NoiseKey{1, 2, 0, 1, 0, 0}};
  NoiseFn noise = keyed_step_noise(keys, {4}, at::kCPU);
  EXPECT_FALSE(at::equal(noise(3), noise(4)));
  NoiseKey at_three = keys[1];
  at_three.step = 3;
  at_three.stream = kStepNoise;
  EXPECT_TRUE(at::equal(noise(3)[1], keyed_normal({at_three}, {4}, at::kCPU)[0]));
  // Step 0's noise is not the initial noise drawn with the same key.
  EXPECT_FALSE(at::equal(noise(0), keyed_normal(keys, {4}, at::kCPU)));
}

}  // namespace
}  // namespace evosearch
