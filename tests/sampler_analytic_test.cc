// Samplers against analytic truth: for data x0 ~ N(mu, s^2 I) the exact eps, x0, v and
// velocity predictions are closed-form, so sampling with that exact model must reproduce the
// data's mean and standard deviation.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "worker/keyed_noise.h"
#include "worker/prediction.h"
#include "worker/samplers.h"
#include "worker/schedule.h"

namespace evosearch {
namespace {

constexpr double kMu = 0.7;
constexpr double kStd = 0.4;

// The native prediction of an exact model for Gaussian data, from its own closed forms.
at::Tensor exact_prediction(const at::Tensor& x, double a, double sig, proto::Prediction kind) {
  const double var = a * a * kStd * kStd + sig * sig;
  const at::Tensor dev = x - a * kMu;
  const at::Tensor x0 = kMu + (a * kStd * kStd / var) * dev;  // E[x0 | x]
  const at::Tensor eps = (sig / var) * dev;                    // E[noise | x]
  switch (kind) {
    case proto::EPSILON: return eps;
    case proto::V_PREDICTION: return a * eps - sig * x0;
    case proto::VELOCITY: return eps - x0;
    default: return x0;
  }
}

DenoiseFn exact_model(const Schedule& s, proto::Prediction kind) {
  return [&s, kind](const at::Tensor& x, int64_t i) {
    return prediction_to_x0(exact_prediction(x, s.alpha[i], s.sigma[i], kind), x, kind, s.alpha[i], s.sigma[i]);
  };
}

struct Case {
  std::string name;
  proto::ModelKind model;
  proto::Prediction prediction;
  SamplerConfig sampler;
  bool video;
};

std::string case_name(const testing::TestParamInfo<Case>& info) { return info.param.name; }
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

SamplerConfig sampler(proto::SamplerKind kind, int steps, double eta = 1, int order = 2, double shift = 1) {
  SamplerConfig c;
  c.kind = kind;
  c.steps = steps;
  c.eta = eta;
  c.order = order;
  c.shift = shift;
  return c;
}

Schedule schedule_for(const Case& c) {
  auto s = c.model == proto::FLOW ? make_flow_schedule(proto::FlowSchedule(), c.sampler.steps, c.sampler.shift)
                                  : make_diffusion_schedule(proto::DiffusionSchedule(), c.sampler.steps);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return *s;
}

class ExactGaussian : public testing::TestWithParam<Case> {};

TEST_P(ExactGaussian, ReproducesDataMeanAndStd) {
  const Case& c = GetParam();
  ASSERT_TRUE(validate_sampler(c.sampler, c.model).ok());
  const Schedule s = schedule_for(c);
  const std::vector<int64_t> shape = c.video ? std::vector<int64_t>{2, 3, 4, 4} : std::vector<int64_t>{2, 4, 4};
  const int64_t batch = c.video ? 700 : 2000;
  std::vector<NoiseKey> keys;
  for (int64_t b = 0; b < batch; ++b) keys.push_back(NoiseKey{123, 0, 0, static_cast<uint32_t>(b), 0, 0});
  const at::Tensor x = keyed_normal(keys, shape, at::kCPU);
  const int64_t mid = c.sampler.steps / 2;
  RolloutRange range;
  range.keep = {mid};
  const RolloutOutput out = run_sampler(c.sampler, s, x, exact_model(s, c.prediction),
                                        keyed_step_noise(keys, shape, at::kCPU), range);
  EXPECT_EQ(out.model_calls, c.sampler.steps);
  EXPECT_EQ(out.x.sizes(), x.sizes());
  EXPECT_NEAR(out.x.mean().item<double>(), kMu, 0.01);
  EXPECT_NEAR(out.x.std().item<double>(), kStd, 0.01);
  // The kept state is the state *at* step `mid`, with the marginal of that noise level.
  ASSERT_EQ(out.kept.size(), 1u);
  EXPECT_EQ(out.kept[0].first, mid);
  const double a = s.alpha[mid], sig = s.sigma[mid];
  EXPECT_NEAR(out.kept[0].second.mean().item<double>(), a * kMu, 0.01);
  EXPECT_NEAR(out.kept[0].second.std().item<double>(), std::sqrt(a * a * kStd * kStd + sig * sig), 0.015);
}

// Step counts are where each sampler's discretisation error is below ~1% of the data std:
// first-order samplers (DDIM, Euler, DPM-Solver++ 1) converge as 1/T, second order faster.
// ExactGaussianFewSteps below checks coarse step counts against the exact finite-T answer.
const auto kCases = testing::Values(
    Case{"DdpmEpsDdimEta0_500", proto::DIFFUSION, proto::EPSILON, sampler(proto::DDIM, 500, 0), false},
    Case{"DdpmEpsDdimEta1_1000", proto::DIFFUSION, proto::EPSILON, sampler(proto::DDIM, 1000, 1), false},
    Case{"DdpmEpsDdimEta1_1000Video", proto::DIFFUSION, proto::EPSILON, sampler(proto::DDIM, 1000, 1), true},
    Case{"DdpmVDdimEtaHalf_500Video", proto::DIFFUSION, proto::V_PREDICTION, sampler(proto::DDIM, 500, 0.5), true},
    Case{"DdpmX0DpmSde2_300", proto::DIFFUSION, proto::SAMPLE, sampler(proto::DPMPP_SDE, 300, 1, 2), false},
    Case{"DdpmEpsDpmSde2_200Video", proto::DIFFUSION, proto::EPSILON, sampler(proto::DPMPP_SDE, 200, 1, 2), true},
    Case{"FlowEuler_200", proto::FLOW, proto::VELOCITY, sampler(proto::EULER, 200), false},
    Case{"FlowEulerShift3_400Video", proto::FLOW, proto::VELOCITY, sampler(proto::EULER, 400, 1, 2, 3), true},
    Case{"FlowDpmSde1_1000", proto::FLOW, proto::VELOCITY, sampler(proto::DPMPP_SDE, 1000, 1, 1), false},
    Case{"FlowDpmSde1Shift3_1000Video", proto::FLOW, proto::VELOCITY, sampler(proto::DPMPP_SDE, 1000, 1, 1, 3), true},
    Case{"FlowDpmSde2_100", proto::FLOW, proto::VELOCITY, sampler(proto::DPMPP_SDE, 100, 1, 2), false},
    Case{"FlowDpmSde2Shift5_200Video", proto::FLOW, proto::VELOCITY, sampler(proto::DPMPP_SDE, 200, 1, 2, 5), true},
    Case{"FlowX0DdimEta1Shift5_1000", proto::FLOW, proto::SAMPLE, sampler(proto::DDIM, 1000, 1, 2, 5), false});

INSTANTIATE_TEST_SUITE_P(Samplers, ExactGaussian, kCases, case_name);

// A wrong formula must fail the check above: a sampler that forgets the noise term is biased.
TEST(ExactGaussianSanity, DroppingTheNoiseTermIsDetected) {
  const Schedule s = *make_flow_schedule(proto::FlowSchedule(), 50, 1);
  std::vector<NoiseKey> keys;
  for (uint32_t b = 0; b < 2000; ++b) keys.push_back(NoiseKey{5, 0, 0, b, 0, 0});
  const at::Tensor x = keyed_normal(keys, {8}, at::kCPU);
  const NoiseFn silent = [&](int64_t) { return at::zeros_like(x); };
  const RolloutOutput out =
      run_sampler(sampler(proto::DPMPP_SDE, 50, 1, 1), s, x, exact_model(s, proto::VELOCITY), silent, {});
  EXPECT_GT(std::fabs(out.x.std().item<double>() - kStd), 0.05);
}

TEST(Samplers, ResumingFromAKeptStateGivesTheSameSample) {
  for (const SamplerConfig& config : {sampler(proto::DDIM, 40, 1), sampler(proto::DPMPP_SDE, 40, 1, 1)}) {
    const Schedule s = *make_flow_schedule(proto::FlowSchedule(), 40, 3);
    std::vector<NoiseKey> keys{NoiseKey{1, 2, 3, 0, 0, 0}, NoiseKey{1, 2, 3, 1, 0, 0}};
    const at::Tensor x = keyed_normal(keys, {3, 2}, at::kCPU);
    const NoiseFn noise = keyed_step_noise(keys, {3, 2}, at::kCPU);
    const DenoiseFn model = exact_model(s, proto::VELOCITY);
    RolloutRange whole;
    whole.keep = {0, 17};
    const RolloutOutput full = run_sampler(config, s, x, model, noise, whole);
    ASSERT_EQ(full.kept.size(), 2u);
    EXPECT_TRUE(at::equal(full.kept[0].second, x));
    RolloutRange rest;
    rest.start = 17;
    const RolloutOutput resumed = run_sampler(config, s, full.kept[1].second, model, noise, rest);
    EXPECT_EQ(resumed.model_calls, 40 - 17);
    EXPECT_TRUE(at::allclose(resumed.x, full.x, 1e-6, 1e-6));
  }
}

TEST(Samplers, ReportedNoiseStdIsTheInjectedNoise) {
  for (const SamplerConfig& config : {sampler(proto::DDIM, 25, 0.7), sampler(proto::DPMPP_SDE, 25, 1, 1)}) {
    const Schedule s = *make_diffusion_schedule(proto::DiffusionSchedule(), 25);
    const std::vector<double> stds = step_noise_std(config, s);
    ASSERT_EQ(stds.size(), 25u);
    const at::Tensor x = at::full({1, 4}, 0.3), x0 = at::full({1, 4}, 0.5), one = at::ones({1, 4});
    for (int64_t i = 0; i < 25; ++i) {
      const at::Tensor with = config.kind == proto::DDIM ? ddim_step(s, i, x, x0, config.eta, one)
                                                         : dpmpp_sde_step(s, i, x, x0, at::Tensor(), one);
      const at::Tensor without = config.kind == proto::DDIM ? ddim_step(s, i, x, x0, config.eta, 0 * one)
                                                            : dpmpp_sde_step(s, i, x, x0, at::Tensor(), 0 * one);
      EXPECT_NEAR((with - without).mean().item<double>(), stds[i], 1e-6) << "step " << i;
    }
    EXPECT_EQ(stds.back(), 0.0);  // the last step lands on the clean sample
  }
  // The DDIM formula from the paper: eta*sqrt((1-abar_prev)/(1-abar_t))*sqrt(1-abar_t/abar_prev).
  const Schedule s = *make_diffusion_schedule(proto::DiffusionSchedule(), 10);
  const double abar_t = s.alpha[3] * s.alpha[3], abar_prev = s.alpha[4] * s.alpha[4];
  EXPECT_NEAR(step_noise_std(sampler(proto::DDIM, 10, 0.6), s)[3],
              0.6 * std::sqrt((1 - abar_prev) / (1 - abar_t)) * std::sqrt(1 - abar_t / abar_prev), 1e-12);
  EXPECT_EQ(step_noise_std(sampler(proto::EULER, 10), s), std::vector<double>(10, 0.0));
}

TEST(Schedules, EndpointsAndShift) {
  const Schedule d = *make_diffusion_schedule(proto::DiffusionSchedule(), 50);
  EXPECT_EQ(d.steps(), 50);
  EXPECT_EQ(d.model_t[0], 999);
  EXPECT_EQ(d.model_t[49], 19);
  EXPECT_EQ(d.sigma[50], 0.0);
  EXPECT_EQ(d.alpha[50], 1.0);
  const Schedule f = *make_flow_schedule(proto::FlowSchedule(), 4, 5);
  EXPECT_EQ(f.sigma[0], 1.0);
  EXPECT_EQ(f.sigma[4], 0.0);
  EXPECT_NEAR(f.sigma[2], 5 * 0.5 / (1 + 4 * 0.5), 1e-12);
  EXPECT_NEAR(f.model_t[2], 1000 * f.sigma[2], 1e-9);
  EXPECT_FALSE(make_diffusion_schedule(proto::DiffusionSchedule(), 0).ok());
  EXPECT_FALSE(make_flow_schedule(proto::FlowSchedule(), 10, -1).ok());
}

TEST(Samplers, ValidationNamesTheProblem) {
  EXPECT_NE(validate_sampler(sampler(proto::EULER, 10), proto::DIFFUSION).message().find("EULER"), std::string::npos);
  EXPECT_NE(validate_sampler(sampler(proto::DPMPP_SDE, 10, 1, 3), proto::FLOW).message().find("order"), std::string::npos);
  EXPECT_NE(validate_sampler(sampler(proto::DDIM, 10, 1.5), proto::FLOW).message().find("eta"), std::string::npos);
}

}  // namespace
}  // namespace evosearch
namespace evosearch {
namespace {

// At a coarse step count the first-order samplers do not reach the data std, but the exact
// answer is still known: each DDIM-family step maps the deviation d = x - alpha*mu linearly,
// d' = k d + c n, so its variance follows a scalar recursion from the closed forms.
double predicted_std(const Schedule& s, double eta) {
  double var = 1.0;  // x at step 0 is standard normal
  for (int64_t i = 0; i < s.steps(); ++i) {
    const double as = s.alpha[i], ss = s.sigma[i], at = s.alpha[i + 1], st = s.sigma[i + 1];
    const double e = at * ss > 0 ? st * as / (at * ss) : 0.0;
    const double c = eta * st * std::sqrt(1 - e * e);
    const double k = (at * as * kStd * kStd + std::sqrt(std::max(0.0, st * st - c * c)) * ss) /
                     (as * as * kStd * kStd + ss * ss);
    var = k * k * var + c * c;
  }
  return std::sqrt(var);
}

TEST(ExactGaussianFewSteps, MatchesTheFiniteStepAnswer) {
  std::vector<NoiseKey> keys;
  for (uint32_t b = 0; b < 4000; ++b) keys.push_back(NoiseKey{99, 0, 0, b, 0, 0});
  const at::Tensor x = keyed_normal(keys, {32}, at::kCPU);
  const NoiseFn noise = keyed_step_noise(keys, {32}, at::kCPU);
  for (int steps : {5, 12, 30}) {
    for (double eta : {0.0, 0.5, 1.0}) {
      for (proto::ModelKind model : {proto::DIFFUSION, proto::FLOW}) {
        const Case c{"", model, model == proto::FLOW ? proto::VELOCITY : proto::EPSILON,
                     sampler(proto::DDIM, steps, eta, 2, model == proto::FLOW ? 3 : 1), false};
        const Schedule s = schedule_for(c);
        const at::Tensor out = run_sampler(c.sampler, s, x, exact_model(s, c.prediction), noise, {}).x;
        // The deviation from the mean relative to its std: exact up to sampling error (~0.4%).
        EXPECT_NEAR(out.std().item<double>() / predicted_std(s, eta), 1.0, 0.012)
            << steps << " steps, eta " << eta << ", " << proto::ModelKind_Name(model);
      }
    }
  }
}

TEST(Samplers, FirstOrderFormsAgree) {
  const Schedule s = *make_flow_schedule(proto::FlowSchedule(), 15, 2);
  std::vector<NoiseKey> keys{NoiseKey{8, 1, 0, 0, 0, 0}, NoiseKey{8, 1, 0, 1, 0, 0}};
  const at::Tensor x = keyed_normal(keys, {6}, at::kCPU);
  const NoiseFn noise = keyed_step_noise(keys, {6}, at::kCPU);
  const DenoiseFn model = exact_model(s, proto::VELOCITY);
  // SDE-DPM-Solver++ at first order is DDIM with eta = 1; Euler on the flow ODE is DDIM with eta = 0.
  EXPECT_TRUE(at::allclose(run_sampler(sampler(proto::DPMPP_SDE, 15, 1, 1), s, x, model, noise, {}).x,
                           run_sampler(sampler(proto::DDIM, 15, 1), s, x, model, noise, {}).x, 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(run_sampler(sampler(proto::EULER, 15), s, x, model, noise, {}).x,
                           run_sampler(sampler(proto::DDIM, 15, 0), s, x, model, noise, {}).x, 1e-5, 1e-6));
  // Second order really differs from first order.
  EXPECT_FALSE(at::allclose(run_sampler(sampler(proto::DPMPP_SDE, 15, 1, 2), s, x, model, noise, {}).x,
                            run_sampler(sampler(proto::DPMPP_SDE, 15, 1, 1), s, x, model, noise, {}).x, 1e-4, 1e-4));
}

TEST(Prediction, ConversionsInvertEachOther) {
  const at::Tensor x = at::linspace(-2, 2, 9), x0 = at::linspace(1, -1, 9);
  for (proto::Prediction kind : {proto::EPSILON, proto::V_PREDICTION, proto::SAMPLE, proto::VELOCITY}) {
    const double a = kind == proto::VELOCITY ? 0.4 : 0.6, sig = kind == proto::VELOCITY ? 0.6 : 0.8;
    EXPECT_TRUE(at::allclose(prediction_to_x0(x0_to_prediction(x0, x, kind, a, sig), x, kind, a, sig), x0, 1e-5, 1e-6))
        << proto::Prediction_Name(kind);
  }
  EXPECT_TRUE(check_prediction(proto::FLOW, proto::VELOCITY).ok());
  EXPECT_FALSE(check_prediction(proto::FLOW, proto::EPSILON).ok());
  EXPECT_FALSE(check_prediction(proto::DIFFUSION, proto::VELOCITY).ok());
}

}  // namespace
}  // namespace evosearch
