// Two standard normal floats from one Philox block: the keyed noise's formula (noise formula 2).
//
// Box-Muller, with its logarithm, sine and cosine written out as polynomials in IEEE 754
// float64 arithmetic, so that every machine that rounds +, -, *, / and sqrt as IEEE 754 does
// (any CPU, a CUDA device) computes the same bits, and a compiler can vectorise it. The C
// library's log, sin and cos are free to differ in the last bit between libraries, releases and
// vector variants, and cost 3-5x as much. For block words r0..r3:
//
//   m = ((r0 * 2^32 + r1) >> 12) + 1        in [1, 2^52];  u = m * 2^-52 in (0, 1]
//   m = x * 2^E, x in [1, 2) (exact);  if x > sqrt(2): x = x / 2, E = E + 1
//   s = (x - 1) / (x + 1);  ln u = (E - 52) ln 2 + 2 s P(s^2),  P(z) = sum_{k<12} z^k / (2k+1)
//   rho = sqrt(-2 ln u)
//   w = r2 * 2^32 + r3;  t = (w >> 12) * 2^-52 in [0, 1);  phi = pi t / 4 in [0, pi/4)
//   C = cos(phi), S = sin(phi): their Taylor polynomials in t (to t^16 and t^15), Horner in t^2
//   the low three bits of w: bit 0 swaps C and S, bits 1 and 2 negate the first and the second
//   element 2j = +-rho * (C or S), element 2j+1 = +-rho * (S or C), each rounded once to float32
//
// The reflections by those three bits put the angle uniformly on the whole circle, so the pair
// is independent standard normal. Every truncation above is below float64's own rounding, so
// each float is within one float32 step of textbook Box-Muller with the C library's functions
// on the same u and angle, and in practice equal to it (tests/keyed_rng_test.cc checks both).
//
// Files that compile this must not fuse a multiply and an add (-ffp-contract=off, set for them
// in common/CMakeLists.txt): a fused multiply-add rounds once where the formula rounds twice.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace evosearch {
namespace normal_pair_formula {

// (-1)^k (pi/4)^(2k+1) / (2k+1)!: sin(pi t / 4) = t * sum_k kSin[k] t^(2k).
constexpr double kSin[8] = {0x1.921fb54442d18p-1,  -0x1.4abbce625be53p-4, 0x1.466bc6775aae2p-9,
                            -0x1.32d2cce62bd86p-15, 0x1.50783487ee782p-22, -0x1.e3074fde8871fp-30,
                            0x1.e8f434d018d63p-38,  -0x1.6fadb9f155744p-46};
// (-1)^k (pi/4)^(2k) / (2k)!: cos(pi t / 4) = sum_k kCos[k] t^(2k).
constexpr double kCos[9] = {0x1.0p+0,               -0x1.3bd3cc9be45dep-2, 0x1.03c1f081b5ac4p-6,
                            -0x1.55d3c7e3cbffap-12, 0x1.e1f506891babbp-19, -0x1.a6d1f2a204a8cp-26,
                            0x1.f9d38a3763cc3p-34,  -0x1.b6e24f44b128fp-42, 0x1.20c62c2f2d7f5p-50};
// 1 / (2k+1): ln x = 2 atanh(s) = 2 s sum_k kAtanh[k] s^(2k), s = (x-1)/(x+1), |s| <= 0.172.
constexpr double kAtanh[12] = {0x1.0p+0,           0x1.5555555555555p-2, 0x1.999999999999ap-3, 0x1.2492492492492p-3,
                               0x1.c71c71c71c71cp-4, 0x1.745d1745d1746p-4, 0x1.3b13b13b13b14p-4, 0x1.1111111111111p-4,
                               0x1.e1e1e1e1e1e1ep-5, 0x1.af286bca1af28p-5, 0x1.8618618618618p-5, 0x1.642c8590b2164p-5};
constexpr double kLn2 = 0x1.62e42fefa39efp-1;
constexpr double kSqrt2 = 0x1.6a09e667f3bcdp+0;
constexpr uint64_t kMantissa = 0x000FFFFFFFFFFFFFull;
constexpr uint64_t kOneBits = 0x3FF0000000000000ull;  // 1.0
constexpr uint64_t kTwo52Bits = 0x4330000000000000ull;  // 2^52

inline uint64_t bits_of(double d) {
  uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

inline double double_of(uint64_t u) {
  double d;
  std::memcpy(&d, &u, sizeof d);
  return d;
}

// v in [0, 2^52] as a double, exactly, by integer operations a compiler can vectorise (it
// cannot vectorise an int64 conversion without AVX-512).
inline double from_u52(uint64_t v) { return double_of(v | kTwo52Bits) - 0x1p52; }

// c[0] + x (c[1] + x (c[2] + ...)), each step one multiply and one add, in that order.
template <size_t I, size_t N>
inline double horner_from(double x, const double (&c)[N]) {
  if constexpr (I + 1 == N) {
    return c[I];
  } else {
    return horner_from<I + 1>(x, c) * x + c[I];
  }
}
template <size_t N>
inline double horner(double x, const double (&c)[N]) {
  return horner_from<0>(x, c);
}

// Elements 2j and 2j+1 of a draw from block j's words (the formula above). Branch-free, so a
// loop of it over lanes vectorises.
inline void normal_pair(uint32_t r0, uint32_t r1, uint32_t r2, uint32_t r3, float* first, float* second) {
  const uint64_t m_bits = bits_of(from_u52((uint64_t{r0} << 20 | r1 >> 12) + 1));
  double x = double_of((m_bits & kMantissa) | kOneBits);
  double e = from_u52(m_bits >> 52) - 1075.0;  // E - 52: the biased exponent less 1023 + 52
  const bool halve = x > kSqrt2;
  x = halve ? x * 0.5 : x;
  e = halve ? e + 1.0 : e;
  const double s = (x - 1.0) / (x + 1.0);
  const double ln_u = e * kLn2 + (s * 2.0) * horner(s * s, kAtanh);
  const double rho = std::sqrt(ln_u * -2.0);
  const uint64_t w = uint64_t{r2} << 32 | r3;
  const double t = from_u52(w >> 12) * 0x1p-52;
  const double y = t * t;
  const double sin_phi = horner(y, kSin) * t;
  const double cos_phi = horner(y, kCos);
  const bool swap = (w & 1) != 0;
  const double a = (swap ? sin_phi : cos_phi) * rho;
  const double b = (swap ? cos_phi : sin_phi) * rho;
  *first = static_cast<float>((w & 2) != 0 ? -a : a);
  *second = static_cast<float>((w & 4) != 0 ? -b : b);
}

}  // namespace normal_pair_formula
}  // namespace evosearch
