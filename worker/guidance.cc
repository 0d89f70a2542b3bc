#include "worker/guidance.h"

#include "worker/prediction.h"

namespace evosearch {

DenoiseFn guided_denoiser(Bundle& bundle, const Schedule& schedule, at::Tensor cond, at::Tensor null_cond,
                          double scale, FiniteGuard* guard) {
  const proto::Prediction kind = bundle.manifest().prediction();
  const bool cfg = scale != 1.0;
  // The conditions of the guidance pair [cond; null], built once for every step of the batch (at
  // Wan's 512 tokens of width 4096 a prompt's condition is 8 MB).
  at::Tensor c_in = cfg ? at::cat({cond, null_cond.unsqueeze(0).expand({cond.size(0), -1})}) : std::move(cond);
  return [&bundle, &schedule, c_in = std::move(c_in), cfg, scale, kind, guard](const at::Tensor& x, int64_t step) {
    const int64_t batch = x.size(0);
    const at::Tensor x_in = cfg ? at::cat({x, x}) : x;
    const at::Tensor t = at::full({x_in.size(0)}, schedule.model_t[step], x.options());
    auto raw = bundle.denoise(x_in, t, c_in, guard, step);
    if (!raw.ok()) throw ModuleCallError(raw.status());
    at::Tensor x0 = prediction_to_x0(*raw, x_in, kind, schedule.alpha[step], schedule.sigma[step]);
    if (!cfg) return x0;
    const at::Tensor x0_cond = x0.narrow(0, 0, batch), x0_null = x0.narrow(0, batch, batch);
    return x0_null + scale * (x0_cond - x0_null);
  };
}

}  // namespace evosearch
