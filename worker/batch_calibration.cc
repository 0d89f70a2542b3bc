#include "worker/batch_calibration.h"

#include <algorithm>
#include <chrono>

#include "common/logging.h"
#include "worker/guidance.h"

namespace evosearch {

std::vector<int> candidate_batch_sizes(int max_batch) {
  std::vector<int> sizes;
  for (int b = 1; b < max_batch; b *= 2) sizes.push_back(b);
  if (max_batch >= 1) sizes.push_back(max_batch);
  return sizes;
}

StatusOr<BatchCalibration> calibrate_batch_size(const BatchTimer& time_call, const BatchCalibrationOptions& options) {
  if (options.max_batch < 1) return InvalidArgument("batch calibration: max_batch must be at least 1");
  const auto started = std::chrono::steady_clock::now();
  BatchCalibration out;
  double spent = 0, best_rate = 0, last_call = 0, budget = options.budget_seconds;
  int last_batch = 0;
  for (const int batch : candidate_batch_sizes(options.max_batch)) {
    if (last_batch > 0) {
      // The next size's timed calls cost about its share more each.
      const double estimate = last_call * batch / last_batch * std::max(1, options.repetitions);
      if (spent + estimate > budget) {
        spdlog::debug("batch calibration: not trying {} (about {:.2f} s more would pass the {:.2f} s budget)", batch,
                      estimate, budget);
        break;
      }
    }
    double fastest = 0;
    Status failed;
    for (int call = 0; call <= std::max(1, options.repetitions); ++call) {  // call 0 warms up
      StatusOr<double> seconds = time_call(batch);
      if (!seconds.ok()) {
        failed = seconds.status();
        break;
      }
      // The warm-up is not counted: a new shape's first call pays for TorchScript's profiling
      // (and on a loaded machine can take seconds), which the job would pay anyway.
      if (call == 0) continue;
      spent += *seconds;
      if (fastest == 0 || *seconds < fastest) fastest = *seconds;
    }
    if (!failed.ok()) {
      if (out.rates.empty()) return failed.with_context("batch calibration at batch " + std::to_string(batch));
      spdlog::info("batch calibration: stopped at batch {}: {}", batch, failed.message());
      break;
    }
    // A call too fast for the clock counts as a very fast one, not as a division by zero.
    const double rate = batch / std::max(fastest, 1e-9);
    out.rates.push_back(BatchRate{batch, rate});
    best_rate = std::max(best_rate, rate);
    if (last_batch == 0) budget = std::max(budget, options.budget_calls * fastest);
    last_call = fastest;
    last_batch = batch;
    if (rate < options.give_up_below * best_rate) break;
  }
  for (const BatchRate& r : out.rates) {  // smallest first: the first within tolerance of the best wins
    if (r.nfe_per_second >= (1 - options.tolerance) * best_rate) {
      out.chosen = r.batch;
      break;
    }
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return out;
}

StatusOr<double> seconds_until_computed(const std::function<StatusOr<at::Tensor>()>& call) {
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(const at::Tensor out, call());
  out.flatten()[0].item<float>();  // waits for the device
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

BatchTimer denoiser_timer(Bundle& bundle, const Schedule& schedule, double guidance_scale) {
  return [&bundle, &schedule, guidance_scale, null_cond = at::Tensor()](int batch) mutable -> StatusOr<double> {
    c10::InferenceMode guard;
    try {
      if (!null_cond.defined()) {
        ASSIGN_OR_RETURN(const at::Tensor encoded, bundle.encode({bundle.manifest().null_prompt()}));
        null_cond = encoded[0];
      }
      std::vector<int64_t> shape = bundle.latent_shape();
      shape.insert(shape.begin(), batch);
      // The values do not matter for the time; a constant keeps every global generator untouched.
      const at::Tensor x = at::full(shape, 0.5, at::TensorOptions().device(bundle.device()));
      const at::Tensor cond = null_cond.unsqueeze(0).expand({batch, -1}).contiguous();
      const DenoiseFn model = guided_denoiser(bundle, schedule, cond, null_cond, guidance_scale);
      return seconds_until_computed([&]() -> StatusOr<at::Tensor> { return model(x, schedule.steps() / 2); });
    } catch (const ModuleCallError& e) {
      return e.status();
    } catch (const std::exception& e) {
      // Most likely out of memory on a device: the sizes measured so far still compete.
      return Internal("LibTorch raised: " + short_torch_error(e));
    }
  };
}

}  // namespace evosearch
