#include "worker/generate.h"

#include <algorithm>

#include "worker/guidance.h"
#include "worker/keyed_noise.h"

namespace evosearch {

SamplerConfig default_sampler(const proto::BundleManifest& m) {
  SamplerConfig c;
  c.kind = m.defaults().sampler();
  c.steps = m.defaults().steps();
  c.eta = m.defaults().eta();
  c.order = m.defaults().order();
  c.shift = m.model_kind() == proto::FLOW ? m.flow().shift() : 1.0;
  return c;
}

StatusOr<Schedule> make_schedule(const proto::BundleManifest& m, const SamplerConfig& sampler) {
  RETURN_IF_ERROR(validate_sampler(sampler, m.model_kind()));
  if (m.model_kind() == proto::FLOW) return make_flow_schedule(m.flow(), sampler.steps, sampler.shift);
  return make_diffusion_schedule(m.diffusion(), sampler.steps);
}

StatusOr<Samples> generate(Bundle& bundle, const std::vector<std::string>& prompts, const std::vector<NoiseKey>& keys,
                           const GenerateOptions& options, const std::function<void(int64_t, int64_t)>& progress) {
  if (prompts.size() != keys.size()) return InvalidArgument("generate: one noise key per prompt is needed");
  if (options.batch_size < 1) return InvalidArgument("batch size: expected at least 1");
  ASSIGN_OR_RETURN(const Schedule schedule, make_schedule(bundle.manifest(), options.sampler));
  c10::InferenceMode guard;
  ASSIGN_OR_RETURN(const at::Tensor null_cond, bundle.encode({bundle.manifest().null_prompt()}));
  const std::vector<int64_t> shape = bundle.latent_shape();
  const int64_t total = static_cast<int64_t>(prompts.size());
  Samples out;
  out.scores.resize(bundle.reward_count());
  std::vector<at::Tensor> pixel_batches;
  for (int64_t begin = 0; begin < total; begin += options.batch_size) {
    const int64_t end = std::min(total, begin + options.batch_size);
    const std::vector<std::string> batch_prompts(prompts.begin() + begin, prompts.begin() + end);
    const std::vector<NoiseKey> batch_keys(keys.begin() + begin, keys.begin() + end);
    ASSIGN_OR_RETURN(const at::Tensor cond, bundle.encode(batch_prompts));
    const at::Tensor x = keyed_normal(batch_keys, shape, bundle.device());
    RolloutOutput rollout;
    try {
      rollout = run_sampler(options.sampler, schedule, x,
                            guided_denoiser(bundle, schedule, cond, null_cond[0], options.guidance_scale),
                            keyed_step_noise(batch_keys, shape, bundle.device()), RolloutRange{});
    } catch (const ModuleCallError& e) {
      return e.status();
    }
    out.nfe += rollout.model_calls * (end - begin);
    ASSIGN_OR_RETURN(const at::Tensor pixels, bundle.decode(rollout.x));
    for (int r = 0; r < bundle.reward_count(); ++r) {
      ASSIGN_OR_RETURN(const at::Tensor s, bundle.score(r, pixels, cond));
      const at::Tensor cpu = s.to(at::kCPU, at::kDouble).contiguous();
      out.scores[r].insert(out.scores[r].end(), cpu.data_ptr<double>(), cpu.data_ptr<double>() + cpu.numel());
    }
    pixel_batches.push_back(pixels.to(at::kCPU));
    if (progress) progress(end, total);
  }
  out.pixels = at::cat(pixel_batches);
  return out;
}

}  // namespace evosearch
