#include "worker/samplers.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace evosearch {
namespace {

// exp(-h) with h = lambda_t - lambda_s, lambda = log(alpha/sigma), written without logs so
// that alpha_s = 0 (pure noise) and sigma_t = 0 (clean) give the limits 0 instead of NaN.
double exp_neg_h(const Schedule& s, int64_t i) {
  const double denom = s.alpha[i + 1] * s.sigma[i];
  return denom > 0 ? (s.sigma[i + 1] * s.alpha[i]) / denom : 0.0;
}

double lambda(const Schedule& s, int64_t i) { return std::log(s.alpha[i] / s.sigma[i]); }

}  // namespace

at::Tensor ddim_step(const Schedule& s, int64_t i, const at::Tensor& x, const at::Tensor& x0, double eta,
                     const at::Tensor& noise) {
  const double sig_t = s.sigma[i + 1];
  const double e = exp_neg_h(s, i);
  const double std_dev = eta * sig_t * std::sqrt(std::max(0.0, 1.0 - e * e));
  const at::Tensor eps = (x - s.alpha[i] * x0) / s.sigma[i];
  at::Tensor out = s.alpha[i + 1] * x0 + std::sqrt(std::max(0.0, sig_t * sig_t - std_dev * std_dev)) * eps;
  return std_dev > 0 ? out + std_dev * noise : out;
}

at::Tensor euler_step(const Schedule& s, int64_t i, const at::Tensor& x, const at::Tensor& x0) {
  const at::Tensor velocity = (x - x0) / s.sigma[i];
  return x + (s.sigma[i + 1] - s.sigma[i]) * velocity;
}

at::Tensor dpmpp_sde_step(const Schedule& s, int64_t i, const at::Tensor& x, const at::Tensor& x0,
                          const at::Tensor& prev_x0, const at::Tensor& noise) {
  const double e = exp_neg_h(s, i);
  const double keep = s.sigma[i] > 0 ? s.sigma[i + 1] / s.sigma[i] * e : 0.0;
  const double data = s.alpha[i + 1] * (1.0 - e * e);
  const double std_dev = s.sigma[i + 1] * std::sqrt(std::max(0.0, 1.0 - e * e));
  at::Tensor out = keep * x + data * x0;
  if (prev_x0.defined()) {
    // Multistep midpoint correction: D1 = (x0_i - x0_{i-1}) / r, r = h_prev / h.
    const double h = lambda(s, i + 1) - lambda(s, i);
    const double h_prev = lambda(s, i) - lambda(s, i - 1);
    out = out + 0.5 * data * (h / h_prev) * (x0 - prev_x0);
  }
  return std_dev > 0 ? out + std_dev * noise : out;
}

RolloutOutput run_sampler(const SamplerConfig& c, const Schedule& s, at::Tensor x, const DenoiseFn& denoise,
                          const NoiseFn& noise, const RolloutRange& range) {
  const int64_t end = range.end < 0 ? s.steps() : range.end;
  RolloutOutput out;
  auto keep_if_asked = [&](int64_t step, const at::Tensor& state) {
    if (std::find(range.keep.begin(), range.keep.end(), step) != range.keep.end()) out.kept.emplace_back(step, state);
  };
  const std::vector<double> stds = step_noise_std(c, s);
  at::Tensor prev_x0;
  for (int64_t i = range.start; i < end; ++i) {
    keep_if_asked(i, x);
    const bool known = i == range.start && range.start_x0.defined();
    const at::Tensor x0 = known ? range.start_x0 : denoise(x, i);
    out.model_calls += known ? 0 : 1;
    const at::Tensor fresh = stds[i] > 0 ? noise(i) : at::Tensor();
    switch (c.kind) {
      case proto::EULER:
        x = euler_step(s, i, x, x0);
        break;
      case proto::DPMPP_SDE: {
        // Second order needs a finite lambda at i-1 and i+1: not from pure noise, not into x0.
        const bool second = c.order == 2 && prev_x0.defined() && s.alpha[i - 1] > 0 && s.sigma[i + 1] > 0;
        x = dpmpp_sde_step(s, i, x, x0, second ? prev_x0 : at::Tensor(), fresh);
        break;
      }
      default:
        x = ddim_step(s, i, x, x0, c.eta, fresh);
    }
    prev_x0 = x0;
  }
  keep_if_asked(end, x);
  out.x = x;
  return out;
}

std::vector<double> step_noise_std(const SamplerConfig& c, const Schedule& s) {
  std::vector<double> out(s.steps(), 0.0);
  if (c.kind == proto::EULER) return out;
  const double eta = c.kind == proto::DDIM ? c.eta : 1.0;
  for (int64_t i = 0; i < s.steps(); ++i) {
    const double e = exp_neg_h(s, i);
    out[i] = eta * s.sigma[i + 1] * std::sqrt(std::max(0.0, 1.0 - e * e));
  }
  return out;
}

}  // namespace evosearch
