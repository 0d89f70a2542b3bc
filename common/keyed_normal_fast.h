// The keyed normal draw a block of Philox lanes at a time: the same floats as the scalar
// reference fill_standard_normal (common/keyed_rng.h), bit for bit, in a loop the compiler
// vectorises. Built for the CPU's widest vectors among AVX-512, AVX2 and the baseline, chosen at
// run time; every build rounds as IEEE 754 does, so all give the same numbers.
#pragma once

#include <cstddef>
#include <vector>

#include "common/keyed_rng.h"

namespace evosearch {

// Elements [begin, end) of `key`'s draw into out[0..end-begin), on the calling thread.
void fill_standard_normal_fast(const NoiseKey& key, float* out, size_t begin, size_t end);

// The builds of the loop, for tests that check each against the reference.
enum class VectorBuild { kBaseline, kAvx2, kAvx512 };
const char* vector_build_name(VectorBuild build);
// The builds this CPU can run, the baseline first; the last is what fill_standard_normal_fast uses.
std::vector<VectorBuild> runnable_vector_builds();
void fill_standard_normal_fast(const NoiseKey& key, float* out, size_t begin, size_t end, VectorBuild build);

}  // namespace evosearch
