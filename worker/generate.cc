#include "worker/generate.h"

#include <algorithm>

#include "common/keyed_rng.h"
#include "worker/rollout_executor.h"

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

StatusOr<Samples> generate(Bundle& bundle, const std::string& prompt, int count, const GenerateOptions& options,
                           const std::function<void(int64_t, int64_t)>& progress) {
  if (options.batch_size < 1) return InvalidArgument("batch size: expected at least 1");
  ASSIGN_OR_RETURN(Schedule schedule, make_schedule(bundle.manifest(), options.sampler));
  const int steps = options.sampler.steps;
  ExecutorOptions executor_options{options.sampler, options.guidance_scale, options.batch_size, options.seed};
  RolloutExecutor executor(bundle, executor_options, std::move(schedule));
  RETURN_IF_ERROR(executor.add_prompt(0, prompt, prompt_key(prompt)));
  Samples out;
  out.scores.resize(bundle.reward_count());
  std::vector<at::Tensor> pixels;
  for (int begin = 0; begin < count; begin += options.batch_size) {
    std::vector<PromptTask> tasks;
    for (int c = begin; c < std::min(count, begin + options.batch_size); ++c) {
      PromptTask t;
      t.task.set_candidate(static_cast<uint32_t>(c));
      t.task.set_end_step(steps);
      t.task.add_keep_steps(steps);
      tasks.push_back(std::move(t));
    }
    ASSIGN_OR_RETURN(const std::vector<PromptResult> results, executor.run(tasks));
    for (const PromptResult& r : results) {
      out.nfe += r.result.nfe();
      proto::StateRef ref;
      ref.set_candidate(r.result.candidate());
      ref.set_step(static_cast<uint32_t>(steps));
      ASSIGN_OR_RETURN(at::Tensor image, executor.decode_state(0, ref));
      ASSIGN_OR_RETURN(const std::vector<double> scores, executor.score_state(0, ref));
      for (size_t i = 0; i < scores.size(); ++i) out.scores[i].push_back(scores[i]);
      pixels.push_back(std::move(image));
    }
    executor.store().release_prompt(0);
    if (progress) progress(begin + static_cast<int64_t>(tasks.size()), count);
  }
  out.pixels = at::cat(pixels);
  return out;
}

}  // namespace evosearch
