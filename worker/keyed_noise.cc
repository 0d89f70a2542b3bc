#include "worker/keyed_noise.h"

#include <algorithm>
#include <utility>

#include "common/keyed_normal_fast.h"
#include "common/normal_pair.h"
#include "worker/parallel_tasks.h"

namespace evosearch {
namespace {

constexpr int64_t kWord = 0xFFFFFFFF;  // the low 32 bits

// Elements per task of the CPU draw; even, so no Philox block is computed by two tasks.
constexpr int64_t kCpuGrain = int64_t{1} << 14;

std::vector<int64_t> batch_shape(size_t rows, at::IntArrayRef sample_shape) {
  std::vector<int64_t> shape{static_cast<int64_t>(rows)};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  return shape;
}

// The vectorised loop, split into even-aligned element ranges over the intra-op threads: each
// element is fill_standard_normal's, bit for bit.
at::Tensor keyed_normal_cpu(const std::vector<NoiseKey>& keys, at::IntArrayRef sample_shape) {
  at::Tensor out = at::empty(batch_shape(keys.size(), sample_shape), at::TensorOptions().dtype(at::kFloat));
  if (out.numel() == 0) return out;
  const int64_t per_row = out.numel() / static_cast<int64_t>(keys.size());
  const int64_t tasks_per_row = (per_row + kCpuGrain - 1) / kCpuGrain;
  float* data = out.data_ptr<float>();
  parallel_tasks(static_cast<int64_t>(keys.size()) * tasks_per_row, [&](int64_t task) {
    const int64_t row = task / tasks_per_row;
    const int64_t first = (task % tasks_per_row) * kCpuGrain;
    const int64_t last = std::min(per_row, first + kCpuGrain);
    fill_standard_normal_fast(keys[row], data + row * per_row + first, first, last);
  });
  return out;
}

// c[0] + x (c[1] + x (c[2] + ...)) with the reference's operations in its order (normal_pair.h).
template <size_t N>
at::Tensor horner(const at::Tensor& x, const double (&c)[N]) {
  at::Tensor p = at::full_like(x, c[N - 1]);
  for (size_t k = N - 1; k-- > 0;) p.mul_(x).add_(c[k]);
  return p;
}

// [rows, 2 * blocks] floats: block j's pair at 2j and 2j + 1, by normal_pair.h's formula with
// its operations in its order. Each ATen operation rounds once, as the reference's do, so the
// floats are the reference's bit for bit on any IEEE 754 device.
at::Tensor box_muller(const PhiloxWords& r) {
  namespace f = normal_pair_formula;
  // The top 52 of a word pair's 64 bits, as int64: (hi << 20) | (lo >> 12).
  const auto top52 = [](const at::Tensor& hi, const at::Tensor& lo) {
    return hi.bitwise_left_shift(20).bitwise_or_(lo.bitwise_right_shift(12));
  };
  const at::Tensor m_bits = top52(r[0], r[1]).add_(1).to(at::kDouble).view(at::kLong);
  at::Tensor x = m_bits.bitwise_and(static_cast<int64_t>(f::kMantissa))
                     .bitwise_or_(static_cast<int64_t>(f::kOneBits))
                     .view(at::kDouble);
  at::Tensor e = m_bits.bitwise_right_shift(52).to(at::kDouble).sub_(1075.0);
  const at::Tensor halve = x.gt(f::kSqrt2);
  x = at::where(halve, x * 0.5, x);
  e = at::where(halve, e + 1.0, e);
  const at::Tensor s = (x - 1.0).div_(x + 1.0);
  const at::Tensor ln_u = e.mul_(f::kLn2).add_((s * 2.0).mul_(horner(s * s, f::kAtanh)));
  const at::Tensor rho = ln_u.mul_(-2.0).sqrt_();
  const at::Tensor t = top52(r[2], r[3]).to(at::kDouble).mul_(0x1p-52);
  const at::Tensor y = t * t;
  const at::Tensor sin_phi = horner(y, f::kSin).mul_(t);
  const at::Tensor cos_phi = horner(y, f::kCos);
  const at::Tensor flags = r[3].bitwise_and(7);
  const at::Tensor swap = flags.bitwise_and(1).ne(0);
  const at::Tensor a = at::where(swap, sin_phi, cos_phi).mul_(rho);
  const at::Tensor b = at::where(swap, cos_phi, sin_phi).mul_(rho);
  const at::Tensor first = at::where(flags.bitwise_and(2).ne(0), a.neg(), a).to(at::kFloat);
  const at::Tensor second = at::where(flags.bitwise_and(4).ne(0), b.neg(), b).to(at::kFloat);
  const at::Tensor pairs = at::stack({first, second}, -1);
  return pairs.view({pairs.size(0), -1});
}

// Each key's stream as four int64 words (key0, key1, counter_hi's low and high words), on the
// device: one small upload, from pinned memory and not waited for when the device is CUDA.
at::Tensor stream_table(const std::vector<NoiseKey>& keys, at::Device device) {
  at::TensorOptions host = at::TensorOptions().dtype(at::kLong);
  if (device.is_cuda()) host = host.pinned_memory(true);
  at::Tensor table = at::empty({static_cast<int64_t>(keys.size()), 4}, host);
  int64_t* words = table.data_ptr<int64_t>();
  for (const NoiseKey& key : keys) {
    const PhiloxStream s = philox_stream(key);
    *words++ = s.key[0];
    *words++ = s.key[1];
    *words++ = static_cast<int64_t>(s.counter_hi & kWord);
    *words++ = static_cast<int64_t>(s.counter_hi >> 32);
  }
  return device.is_cpu() ? table : table.to(device, /*non_blocking=*/true);
}

}  // namespace

PhiloxWords philox4x32_10(PhiloxWords c, at::Tensor key0, at::Tensor key1) {
  for (int round = 0; round < 10; ++round) {
    // A product of two words needs 64 unsigned bits; int64 multiplication wraps on the CPU and
    // on CUDA, leaving the same 64 bits, so the shift and mask below recover the two halves.
    const at::Tensor p0 = c[0] * int64_t{kPhiloxM0};
    const at::Tensor p1 = c[2] * int64_t{kPhiloxM1};
    c = {at::bitwise_xor(p1.bitwise_right_shift(32), c[1]).bitwise_xor_(key0).bitwise_and_(kWord), p1.bitwise_and(kWord),
         at::bitwise_xor(p0.bitwise_right_shift(32), c[3]).bitwise_xor_(key1).bitwise_and_(kWord), p0.bitwise_and(kWord)};
    key0 = (key0 + int64_t{kPhiloxW0}).bitwise_and_(kWord);
    key1 = (key1 + int64_t{kPhiloxW1}).bitwise_and_(kWord);
  }
  return c;
}

at::Tensor keyed_normal_ops(const std::vector<NoiseKey>& keys, at::IntArrayRef sample_shape, at::Device device,
                            int64_t blocks_per_pass) {
  at::Tensor out = at::empty(batch_shape(keys.size(), sample_shape), at::TensorOptions().dtype(at::kFloat).device(device));
  if (out.numel() == 0) return out;
  const int64_t rows = static_cast<int64_t>(keys.size());
  const int64_t per_row = out.numel() / rows;
  const int64_t blocks = (per_row + 1) / 2;
  const at::Tensor table = stream_table(keys, device);
  const at::Tensor flat = out.view({rows, per_row});
  // A pass covers `span` blocks of `rows_per_pass` rows: whole rows together when they are small.
  const int64_t budget = std::max<int64_t>(1, blocks_per_pass);
  const int64_t span = std::min(blocks, budget);
  const int64_t rows_per_pass = budget / span;
  for (int64_t row = 0; row < rows; row += rows_per_pass) {
    const int64_t n_rows = std::min(rows_per_pass, rows - row);
    const at::Tensor streams = table.narrow(0, row, n_rows);
    for (int64_t first = 0; first < blocks; first += span) {
      const int64_t count = std::min(span, blocks - first);
      const at::Tensor index = at::arange(first, first + count, at::TensorOptions().dtype(at::kLong).device(device)).unsqueeze(0);
      const PhiloxWords words = philox4x32_10(
          {index.bitwise_and(kWord), index.bitwise_right_shift(32), streams.narrow(1, 2, 1), streams.narrow(1, 3, 1)},
          streams.narrow(1, 0, 1), streams.narrow(1, 1, 1));
      const int64_t n = std::min(2 * count, per_row - 2 * first);  // an odd row drops its last sine
      flat.narrow(0, row, n_rows).narrow(1, 2 * first, n).copy_(box_muller(words).narrow(1, 0, n));
    }
  }
  return out;
}

at::Tensor keyed_normal(const std::vector<NoiseKey>& keys, at::IntArrayRef sample_shape, at::Device device) {
  return device.is_cpu() ? keyed_normal_cpu(keys, sample_shape) : keyed_normal_ops(keys, sample_shape, device);
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
