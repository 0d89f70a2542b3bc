#include "worker/call_costs.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "worker/batch_calibration.h"
#include "worker/torch_compat.h"

namespace evosearch {
namespace {

// The fastest of `repetitions` timed calls after a warm-up; `time_call` returns one call's seconds.
StatusOr<double> fastest(int repetitions, const std::function<StatusOr<double>()>& time_call) {
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i <= repetitions; ++i) {
    ASSIGN_OR_RETURN(const double seconds, time_call());
    if (i > 0) best = std::min(best, seconds);
  }
  return best;
}

StatusOr<CallCosts> measure_at(Bundle& bundle, const Schedule& schedule, double guidance_scale, int batch,
                               int repetitions) {
  c10::InferenceMode guard;
  CallCosts costs;
  costs.batch = batch;
  try {
    // The denoiser as the batch-size calibration times it (guidance included, the middle step).
    const BatchTimer time_denoiser = denoiser_timer(bundle, schedule, guidance_scale);
    ASSIGN_OR_RETURN(const double denoise, fastest(repetitions, [&] { return time_denoiser(batch); }));
    ASSIGN_OR_RETURN(const at::Tensor encoded, bundle.encode({bundle.manifest().null_prompt()}));
    const at::Tensor cond = encoded.expand({batch, -1}).contiguous();
    const std::vector<std::string> texts(static_cast<size_t>(batch), bundle.manifest().null_prompt());
    std::vector<int64_t> shape = bundle.latent_shape();
    shape.insert(shape.begin(), batch);
    // Values do not matter for the time; a constant leaves every generator untouched.
    const at::Tensor x = at::full(shape, 0.5, at::TensorOptions().device(bundle.device()));
    at::Tensor pixels;
    ASSIGN_OR_RETURN(const double decode, fastest(repetitions, [&] {
                       return seconds_until_computed([&]() -> StatusOr<at::Tensor> {
                         ASSIGN_OR_RETURN(pixels, bundle.decode(x));
                         return pixels;
                       });
                     }));
    ASSIGN_OR_RETURN(const double reward, fastest(repetitions, [&] {
                       return seconds_until_computed(
                           [&] { return bundle.score(bundle.guidance_reward(), pixels, cond, texts); });
                     }));
    costs.seconds_per_nfe = denoise / batch;
    costs.seconds_per_decode = decode / batch;
    costs.seconds_per_reward = reward / batch;
    return costs;
  } catch (const std::exception& e) {
    return Internal("LibTorch raised: " + short_torch_error(e));
  }
}

}  // namespace

StatusOr<CallCosts> measure_call_costs(Bundle& bundle, const Schedule& schedule, double guidance_scale, int batch,
                                       int repetitions) {
  StatusOr<CallCosts> costs = measure_at(bundle, schedule, guidance_scale, std::max(1, batch), repetitions);
  if (!costs.ok() && batch > 1) costs = measure_at(bundle, schedule, guidance_scale, 1, repetitions);
  if (!costs.ok()) return costs.status().with_context("measuring the model's call costs (model_seconds_budget)");
  return costs;
}

}  // namespace evosearch
