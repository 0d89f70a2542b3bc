#include "common/keyed_normal_fast.h"

#include <algorithm>

#include "common/normal_pair.h"

namespace evosearch {
namespace {

// Philox blocks per lane batch: 128 blocks of four words and their 256 floats stay in L1.
constexpr size_t kLanes = 128;

// Philox4x32-10 (philox_round, common/keyed_rng.h) on kLanes counters at once, round by round, so each
// round is a vector loop over the lanes; then the pair formula per lane, also a vector loop.
// Elements [begin, end) go to out[0..end-begin). Inlined into one function per target below.
__attribute__((always_inline)) inline void fill_lanes(const PhiloxStream& d, float* out, size_t begin, size_t end) {
  alignas(64) uint32_t c0[kLanes], c1[kLanes], c2[kLanes], c3[kLanes];
  alignas(64) float first[kLanes], second[kLanes];
  for (size_t block = begin / 2; 2 * block < end; block += kLanes) {
    for (size_t i = 0; i < kLanes; ++i) {
      const uint64_t j = block + i;
      c0[i] = static_cast<uint32_t>(j);
      c1[i] = static_cast<uint32_t>(j >> 32);
      c2[i] = static_cast<uint32_t>(d.counter_hi);
      c3[i] = static_cast<uint32_t>(d.counter_hi >> 32);
    }
    uint32_t k0 = d.key[0], k1 = d.key[1];
    for (int round = 0; round < 10; ++round) {
      for (size_t i = 0; i < kLanes; ++i) philox_round(c0[i], c1[i], c2[i], c3[i], k0, k1);
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    for (size_t i = 0; i < kLanes; ++i) {
      normal_pair_formula::normal_pair(c0[i], c1[i], c2[i], c3[i], &first[i], &second[i]);
    }
    // Element 2(block + i) is first[i], 2(block + i) + 1 is second[i]; keep those in range.
    const size_t lo = std::max(begin, 2 * block), hi = std::min(end, 2 * (block + kLanes));
    for (size_t e = lo; e < hi; ++e) {
      const size_t lane = e / 2 - block;
      out[e - begin] = e % 2 == 0 ? first[lane] : second[lane];
    }
  }
}

void fill_baseline(const PhiloxStream& d, float* out, size_t begin, size_t end) { fill_lanes(d, out, begin, end); }

#if defined(__x86_64__)
__attribute__((target("avx2"))) void fill_avx2(const PhiloxStream& d, float* out, size_t begin, size_t end) {
  fill_lanes(d, out, begin, end);
}
__attribute__((target("avx512f"))) void fill_avx512(const PhiloxStream& d, float* out, size_t begin, size_t end) {
  fill_lanes(d, out, begin, end);
}
#endif

bool runnable(VectorBuild build) {
  switch (build) {
    case VectorBuild::kBaseline:
      return true;
#if defined(__x86_64__)
    case VectorBuild::kAvx2:
      return __builtin_cpu_supports("avx2");
    case VectorBuild::kAvx512:
      return __builtin_cpu_supports("avx512f");
#else
    default:
      return false;
#endif
  }
  return false;
}

}  // namespace

const char* vector_build_name(VectorBuild build) {
  switch (build) {
    case VectorBuild::kBaseline:
      return "baseline";
    case VectorBuild::kAvx2:
      return "avx2";
    case VectorBuild::kAvx512:
      return "avx512";
  }
  return "?";
}

std::vector<VectorBuild> runnable_vector_builds() {
  std::vector<VectorBuild> builds;
  for (VectorBuild b : {VectorBuild::kBaseline, VectorBuild::kAvx2, VectorBuild::kAvx512}) {
    if (runnable(b)) builds.push_back(b);
  }
  return builds;
}

void fill_standard_normal_fast(const NoiseKey& key, float* out, size_t begin, size_t end, VectorBuild build) {
  if (begin >= end) return;
  const PhiloxStream d = philox_stream(key);
  switch (build) {
#if defined(__x86_64__)
    case VectorBuild::kAvx512:
      return fill_avx512(d, out, begin, end);
    case VectorBuild::kAvx2:
      return fill_avx2(d, out, begin, end);
#endif
    default:
      return fill_baseline(d, out, begin, end);
  }
}

void fill_standard_normal_fast(const NoiseKey& key, float* out, size_t begin, size_t end) {
  static const VectorBuild widest = runnable_vector_builds().back();
  fill_standard_normal_fast(key, out, begin, end, widest);
}

}  // namespace evosearch
