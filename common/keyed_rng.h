// Keyed, counter-based randomness: every random number is a pure function of its key, so a
// candidate's noise is the same whatever batch, worker, process or resume computes it.
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace evosearch {

// What a draw is for: draws with the same key but different purposes are independent.
enum NoiseStream : uint32_t {
  kInitialNoise = 0,  // the starting latent of a rollout from step 0
  kStepNoise = 1,     // the fresh noise a stochastic sampler injects at a step
  kMutationNoise = 2, // EvoSearch mutation noise
  kSelectionDraw = 3, // tournament and resampling choices
};

// Who a random draw belongs to. Unused fields stay 0.
struct NoiseKey {
  uint64_t seed = 0;        // the job seed
  uint64_t prompt = 0;      // prompt_key() of the prompt text, or an index
  uint32_t generation = 0;  // search generation (0 = initial population)
  uint32_t candidate = 0;   // candidate within the generation
  uint32_t step = 0;        // sampler step (or a purpose tag for non-step draws)
  uint32_t stream = kInitialNoise;  // a NoiseStream: what the draw is for

  bool operator==(const NoiseKey& o) const {
    return seed == o.seed && prompt == o.prompt && generation == o.generation &&
           candidate == o.candidate && step == o.step && stream == o.stream;
  }
};

// A stable 64-bit id for a prompt text (FNV-1a followed by a mixer).
uint64_t prompt_key(std::string_view text);

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

// Philox4x32's multipliers and key increments (Salmon et al.).
constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;

// One round of Philox4x32 on the counter words c0..c3 with round key (k0, k1), in place: the
// scalar block and the vectorised lane loop (common/keyed_normal_fast.cc) both run it.
inline void philox_round(uint32_t& c0, uint32_t& c1, uint32_t& c2, uint32_t& c3, uint32_t k0, uint32_t k1) {
  const uint64_t p0 = uint64_t{kPhiloxM0} * c0;
  const uint64_t p1 = uint64_t{kPhiloxM1} * c2;
  c0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
  c1 = static_cast<uint32_t>(p1);
  c2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
  c3 = static_cast<uint32_t>(p0);
}

// One Philox4x32-10 block: 4 uniformly distributed 32-bit words.
PhiloxCounter philox4x32_10(PhiloxCounter counter, PhiloxKey key);

// What a NoiseKey selects: block j of its draw is
// philox4x32_10({lo32(j), hi32(j), lo32(counter_hi), hi32(counter_hi)}, key), and the block
// gives elements 2j and 2j+1 (a Box-Muller pair: common/normal_pair.h).
struct PhiloxStream {
  PhiloxKey key;
  uint64_t counter_hi;
};
PhiloxStream philox_stream(const NoiseKey& key);

// Which formula turns Philox blocks into normal floats. A job records the formula it was created
// with and is not resumed by a build that draws another (jobs/job_identity.cc): its checkpoints
// hold states drawn by the old one. 1: Box-Muller with the C library's log, sin and cos (until
// 2026-12-08); 2: the polynomial Box-Muller of common/normal_pair.h.
constexpr uint32_t kNoiseFormula = 2;

// Fills out[0..n) with standard normal floats for `key` (Box-Muller on Philox output).
// Element i depends only on (key, i): a prefix of a longer draw equals the shorter draw.
void fill_standard_normal(const NoiseKey& key, float* out, size_t n);

// Elements [begin, end) of the same draw into out[0..end-begin): the scalar reference, one
// block at a time, that the vectorised loop (common/keyed_normal_fast.h) and the tensor draw on
// a device (worker/keyed_noise.h) equal bit for bit.
void fill_standard_normal(const NoiseKey& key, float* out, size_t begin, size_t end);

// Fills out[0..n) with uniform doubles in [0, 1) for `key`.
void fill_uniform(const NoiseKey& key, double* out, size_t n);

}  // namespace evosearch
