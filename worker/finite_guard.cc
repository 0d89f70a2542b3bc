#include "worker/finite_guard.h"

#include <string>

#include "worker/host_read.h"

namespace evosearch {

void FiniteGuard::record(const at::Tensor& t, std::string where, std::string what, bool unit_range) {
  const at::Tensor finite = at::isfinite(t).all().to(at::kFloat).reshape({1});
  if (unit_range && t.numel() > 0) {
    const auto [lo, hi] = at::aminmax(t);
    flags_.push_back(at::cat({finite, lo.to(at::kFloat).reshape({1}), hi.to(at::kFloat).reshape({1})}));
  } else {
    flags_.push_back(finite);
    unit_range = false;
  }
  checks_.push_back(Check{std::move(where), std::move(what), unit_range});
}

StatusOr<at::Tensor> FiniteGuard::read(const at::Tensor& t) {
  std::vector<at::Tensor> parts;
  const at::Device device = t.defined() ? t.device() : flags_.empty() ? at::Device(at::kCPU) : flags_[0].device();
  int64_t flag_count = 0;
  for (const at::Tensor& f : flags_) {
    parts.push_back(f.to(device, at::kDouble));
    flag_count += f.numel();
  }
  if (t.defined()) parts.push_back(t.reshape({-1}).to(at::kDouble));
  const std::vector<Check> checks = std::move(checks_);
  checks_.clear();
  flags_.clear();
  if (parts.empty()) return at::Tensor();
  const at::Tensor all = host_read(at::cat(parts)).contiguous();
  const double* v = all.data_ptr<double>();
  int64_t pos = 0;
  for (const Check& c : checks) {
    if (v[pos] != 1.0) return ModelError(c.where + c.what + " contains NaN or infinite values");
    if (c.unit_range) {
      const double lo = v[pos + 1], hi = v[pos + 2];
      if (lo < -1e-4 || hi > 1 + 1e-4) {
        return ModelError(c.where + c.what + " has values in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                               "], expected pixels in [0, 1]");
      }
    }
    pos += c.unit_range ? 3 : 1;
  }
  if (!t.defined()) return at::Tensor();
  return all.slice(0, flag_count).reshape(t.sizes());
}

Status FiniteGuard::check() {
  if (checks_.empty()) return Status::Ok();
  return read(at::Tensor()).status();
}

Status check_finite_now(const at::Tensor& t, std::string where, std::string what, bool unit_range) {
  FiniteGuard guard;
  guard.record(t, std::move(where), std::move(what), unit_range);
  return guard.check();
}

}  // namespace evosearch
