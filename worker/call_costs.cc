#include "worker/call_costs.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>
#include <vector>

#include "worker/guidance.h"
#include "worker/torch_compat.h"

namespace evosearch {
namespace {

using Clock = std::chrono::steady_clock;

// The fastest of `repetitions` timed calls after a warm-up; `call` returns its output, read on
// the host so that the device's queued work is counted.
template <typename Call>
StatusOr<double> fastest(int repetitions, Call&& call) {
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i <= repetitions; ++i) {
    const auto start = Clock::now();
    ASSIGN_OR_RETURN(const at::Tensor out, call());
    out.flatten()[0].item<float>();  // waits for the device
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (i > 0) best = std::min(best, seconds);
  }
  return best;
}

StatusOr<CallCosts> measure_at(Bundle& bundle, const Schedule& schedule, double guidance_scale, int batch,
                               int repetitions) {
  c10::InferenceMode guard;
  ASSIGN_OR_RETURN(const at::Tensor encoded, bundle.encode({bundle.manifest().null_prompt()}));
  const at::Tensor null_cond = encoded[0];
  std::vector<int64_t> shape = bundle.latent_shape();
  shape.insert(shape.begin(), batch);
  // Values do not matter for the time; a constant leaves every generator untouched.
  const at::Tensor x = at::full(shape, 0.5, at::TensorOptions().device(bundle.device()));
  const at::Tensor cond = null_cond.unsqueeze(0).expand({batch, -1}).contiguous();
  const std::vector<std::string> texts(static_cast<size_t>(batch), bundle.manifest().null_prompt());
  CallCosts costs;
  costs.batch = batch;
  try {
    const DenoiseFn model = guided_denoiser(bundle, schedule, cond, null_cond, guidance_scale);
    ASSIGN_OR_RETURN(const double denoise, fastest(repetitions, [&]() -> StatusOr<at::Tensor> {
                       return model(x, schedule.steps() / 2);
                     }));
    at::Tensor pixels;
    ASSIGN_OR_RETURN(const double decode, fastest(repetitions, [&]() -> StatusOr<at::Tensor> {
                       ASSIGN_OR_RETURN(pixels, bundle.decode(x));
                       return pixels;
                     }));
    ASSIGN_OR_RETURN(const double reward, fastest(repetitions, [&]() -> StatusOr<at::Tensor> {
                       return bundle.score(bundle.guidance_reward(), pixels, cond, texts);
                     }));
    costs.seconds_per_nfe = denoise / batch;
    costs.seconds_per_decode = decode / batch;
    costs.seconds_per_reward = reward / batch;
    return costs;
  } catch (const ModuleCallError& e) {
    return e.status();
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
