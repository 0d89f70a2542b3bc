#include "common/keyed_rng.h"

#include "common/normal_pair.h"

namespace evosearch {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

PhiloxCounter block(const PhiloxStream& d, uint64_t index) {
  return philox4x32_10({static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32),
                        static_cast<uint32_t>(d.counter_hi), static_cast<uint32_t>(d.counter_hi >> 32)},
                       d.key);
}

// (0, 1], 53 bits: fill_uniform shifts it to [0, 1).
double open_unit(uint32_t hi, uint32_t lo) {
  const uint64_t bits = ((uint64_t{hi} << 32) | lo) >> 11;  // 53 bits
  return (static_cast<double>(bits) + 1.0) * (1.0 / 9007199254740992.0);
}

}  // namespace

// The key's fields folded into a Philox key and the high half of the counter.
PhiloxStream philox_stream(const NoiseKey& k) {
  uint64_t h = splitmix64(k.seed);
  h = splitmix64(h ^ k.prompt);
  h = splitmix64(h ^ ((uint64_t{k.generation} << 32) | k.candidate));
  const uint64_t lo = splitmix64(h ^ ((uint64_t{k.step} << 32) | k.stream));
  const uint64_t hi = splitmix64(lo ^ 0x5851F42D4C957F2Dull);
  return {{static_cast<uint32_t>(lo), static_cast<uint32_t>(lo >> 32)}, hi};
}

uint64_t prompt_key(std::string_view text) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001B3ull;
  }
  return splitmix64(h);
}

PhiloxCounter philox4x32_10(PhiloxCounter ctr, PhiloxKey key) {
  for (int round = 0; round < 10; ++round) {
    philox_round(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1]);
    key[0] += kPhiloxW0;
    key[1] += kPhiloxW1;
  }
  return ctr;
}

void fill_standard_normal(const NoiseKey& key, float* out, size_t n) { fill_standard_normal(key, out, 0, n); }

void fill_standard_normal(const NoiseKey& key, float* out, size_t begin, size_t end) {
  const PhiloxStream d = philox_stream(key);
  for (size_t i = begin & ~size_t{1}; i < end; i += 2) {
    const PhiloxCounter r = block(d, i / 2);
    float pair[2];
    normal_pair_formula::normal_pair(r[0], r[1], r[2], r[3], &pair[0], &pair[1]);
    if (i >= begin) out[i - begin] = pair[0];
    if (i + 1 < end) out[i + 1 - begin] = pair[1];
  }
}

void fill_uniform(const NoiseKey& key, double* out, size_t n) {
  const PhiloxStream d = philox_stream(key);
  for (size_t base = 0; base < n; base += 2) {
    const PhiloxCounter r = block(d, base / 2);
    out[base] = open_unit(r[0], r[1]) - 0x1p-53;  // [0, 1)
    if (base + 1 < n) out[base + 1] = open_unit(r[2], r[3]) - 0x1p-53;
  }
}

}  // namespace evosearch
