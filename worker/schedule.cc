#include "worker/schedule.h"

#include <cmath>
#include <string>

namespace evosearch {

proto::DiffusionSchedule with_defaults(proto::DiffusionSchedule spec) {
  if (spec.beta_schedule() == proto::BETA_SCHEDULE_UNSPECIFIED) spec.set_beta_schedule(proto::LINEAR);
  if (spec.beta_start() == 0) spec.set_beta_start(1e-4);
  if (spec.beta_end() == 0) spec.set_beta_end(0.02);
  if (spec.train_timesteps() == 0) spec.set_train_timesteps(1000);
  return spec;
}

proto::FlowSchedule with_defaults(proto::FlowSchedule spec) {
  if (spec.time_scale() == 0) spec.set_time_scale(1000);
  if (spec.shift() == 0) spec.set_shift(1);
  return spec;
}

StatusOr<Schedule> make_diffusion_schedule(const proto::DiffusionSchedule& raw, int steps) {
  const proto::DiffusionSchedule spec = with_defaults(raw);
  const int n = spec.train_timesteps();
  if (steps < 1 || steps > n) {
    return InvalidArgument("steps: " + std::to_string(steps) + " is out of range; expected 1.." +
                           std::to_string(n) + " (the model's train_timesteps)");
  }
  if (!(spec.beta_start() > 0 && spec.beta_end() < 1 && spec.beta_start() <= spec.beta_end())) {
    return InvalidArgument("diffusion.beta_start/beta_end: expected 0 < beta_start <= beta_end < 1");
  }
  std::vector<double> abar(n);
  double prod = 1.0;
  for (int t = 0; t < n; ++t) {
    const double f = n == 1 ? 0.0 : static_cast<double>(t) / (n - 1);
    double beta;
    if (spec.beta_schedule() == proto::SCALED_LINEAR) {
      const double s = std::sqrt(spec.beta_start()) + f * (std::sqrt(spec.beta_end()) - std::sqrt(spec.beta_start()));
      beta = s * s;
    } else {
      beta = spec.beta_start() + f * (spec.beta_end() - spec.beta_start());
    }
    prod *= 1.0 - beta;
    abar[t] = prod;
  }
  Schedule s;
  for (int i = 0; i < steps; ++i) {
    const long t = std::lround(n - static_cast<double>(i) * n / steps) - 1;
    s.alpha.push_back(std::sqrt(abar[t]));
    s.sigma.push_back(std::sqrt(1.0 - abar[t]));
    s.model_t.push_back(static_cast<double>(t));
  }
  s.alpha.push_back(1.0);
  s.sigma.push_back(0.0);
  s.model_t.push_back(-1.0);
  return s;
}

StatusOr<Schedule> make_flow_schedule(const proto::FlowSchedule& raw, int steps, double shift) {
  const proto::FlowSchedule spec = with_defaults(raw);
  if (steps < 1) return InvalidArgument("steps: expected at least 1, got " + std::to_string(steps));
  if (!(shift > 0)) return InvalidArgument("shift: expected a positive number, got " + std::to_string(shift));
  Schedule s;
  for (int i = 0; i <= steps; ++i) {
    const double base = 1.0 - static_cast<double>(i) / steps;
    const double sigma = shift * base / (1.0 + (shift - 1.0) * base);
    s.sigma.push_back(sigma);
    s.alpha.push_back(1.0 - sigma);
    s.model_t.push_back(sigma * spec.time_scale());
  }
  return s;
}

StatusOr<Schedule> make_schedule(const proto::BundleManifest& m, const SamplerConfig& sampler) {
  RETURN_IF_ERROR(validate_sampler(sampler, m.model_kind()));
  if (m.model_kind() == proto::FLOW) return make_flow_schedule(m.flow(), sampler.steps, sampler.shift);
  return make_diffusion_schedule(m.diffusion(), sampler.steps);
}

}  // namespace evosearch
