#include "worker/generate.h"

#include <algorithm>

#include "common/keyed_rng.h"
#include "worker/torch_backend.h"

namespace evosearch {

StatusOr<Samples> generate(Bundle& bundle, const std::string& prompt, int count, const GenerateOptions& options,
                           const std::function<void(int64_t, int64_t)>& progress) {
  if (options.batch_size < 1) return InvalidArgument("batch size: expected at least 1");
  ASSIGN_OR_RETURN(Schedule schedule, make_schedule(bundle.manifest(), options.sampler));
  const int steps = options.sampler.steps;
  BackendOptions backend_options;
  backend_options.sampler = options.sampler;
  backend_options.guidance_scale = options.guidance_scale;
  backend_options.batch_size = options.batch_size;
  backend_options.seed = options.seed;
  TorchBackend backend(bundle, backend_options, std::move(schedule));
  RETURN_IF_ERROR(backend.add_prompt(0, prompt, prompt_key(prompt)));
  Samples out;
  out.scores.resize(bundle.reward_count());
  std::vector<at::Tensor> pixels;
  for (int begin = 0; begin < count; begin += options.batch_size) {
    std::vector<proto::PromptRolloutTask> tasks;
    for (int c = begin; c < std::min(count, begin + options.batch_size); ++c) {
      proto::PromptRolloutTask t;
      t.mutable_task()->set_candidate(static_cast<uint32_t>(c));
      t.mutable_task()->set_end_step(steps);
      t.mutable_task()->add_keep_steps(steps);
      tasks.push_back(std::move(t));
    }
    ASSIGN_OR_RETURN(const std::vector<proto::PromptRolloutResult> results, backend.run(tasks));
    for (const proto::PromptRolloutResult& r : results) {
      out.nfe += r.result().nfe();
      const proto::StateRef ref = state_ref(0, r.result().candidate(), steps);
      ASSIGN_OR_RETURN(at::Tensor image, backend.decode_pixels(0, ref));
      ASSIGN_OR_RETURN(const std::vector<double> scores, backend.score_pixels(0, image));
      for (size_t i = 0; i < scores.size(); ++i) out.scores[i].push_back(scores[i]);
      pixels.push_back(std::move(image));
    }
    backend.release_prompt(0);
    if (progress) progress(begin + static_cast<int64_t>(tasks.size()), count);
  }
  out.pixels = at::cat(pixels);
  return out;
}

}  // namespace evosearch
