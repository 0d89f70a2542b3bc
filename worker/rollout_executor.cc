#include "worker/rollout_executor.h"

#include <chrono>
#include <cmath>
#include <set>
#include <tuple>

#include "worker/guidance.h"
#include "worker/keyed_noise.h"
#include "worker/tensor_io.h"

namespace evosearch {
namespace {

class Stopwatch {
 public:
  explicit Stopwatch(std::atomic<double>& total) : total_(total), start_(std::chrono::steady_clock::now()) {}
  ~Stopwatch() { total_.store(total_.load() + std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count()); }

 private:
  std::atomic<double>& total_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

RolloutExecutor::RolloutExecutor(Bundle& bundle, ExecutorOptions options, Schedule schedule)
    : bundle_(bundle),
      options_(options),
      schedule_(std::move(schedule)),
      noise_std_(step_noise_std(options.sampler, schedule_)),
      seed_(options.seed) {}

Status RolloutExecutor::add_prompt(uint32_t prompt, const std::string& text, uint64_t key) {
  c10::InferenceMode guard;
  Stopwatch watch(model_seconds_);
  if (!null_condition_.defined()) {
    ASSIGN_OR_RETURN(const at::Tensor null_cond, bundle_.encode({bundle_.manifest().null_prompt()}));
    null_condition_ = null_cond[0];
  }
  ASSIGN_OR_RETURN(const at::Tensor cond, bundle_.encode({text}));
  conditions_[prompt] = cond[0];
  prompt_keys_[prompt] = key;
  return Status::Ok();
}

StatusOr<at::Tensor> RolloutExecutor::start_state(const PromptTask& pt) {
  const proto::RolloutTask& t = pt.task;
  const uint64_t pkey = prompt_keys_.at(pt.prompt);
  if (!t.has_parent()) {
    return keyed_normal({NoiseKey{seed_, pkey, t.generation(), t.candidate(), 0, kInitialNoise}},
                        bundle_.latent_shape(), bundle_.device())[0];
  }
  const std::optional<StateStore::Entry> parent = store_.find(pt.prompt, t.parent());
  if (!parent) {
    return FailedPrecondition("prompt " + std::to_string(pt.prompt) + ": parent state (generation " +
                              std::to_string(t.parent().generation()) + ", candidate " +
                              std::to_string(t.parent().candidate()) + ", step " + std::to_string(t.parent().step()) +
                              ") is not resident");
  }
  if (t.mutation() == proto::MUTATION_NONE) return parent->state;
  const at::Tensor eps = keyed_normal({NoiseKey{seed_, pkey, t.generation(), t.candidate(), 0, kMutationNoise}},
                                      bundle_.latent_shape(), bundle_.device())[0];
  if (t.mutation() == proto::MUTATION_INTERPOLATE) {  // Eq. 7
    return std::sqrt(1.0 - t.beta() * t.beta()) * parent->state + t.beta() * eps;
  }
  return parent->state + noise_std_[t.start_step()] * eps;  // Eq. 8: the sampler's own noise std at s
}

StatusOr<std::vector<PromptResult>> RolloutExecutor::run(const std::vector<PromptTask>& tasks) {
  // Tasks that share a step range and scoring run together, whatever prompt they serve.
  std::map<std::tuple<int, int, int>, std::vector<size_t>> groups;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const auto& t = tasks[i].task;
    if (!conditions_.count(tasks[i].prompt)) return InvalidArgument("task for unknown prompt " + std::to_string(tasks[i].prompt));
    groups[{t.start_step(), t.end_step(), static_cast<int>(t.score())}].push_back(i);
  }
  std::vector<PromptResult> results(tasks.size());
  for (const auto& [range, members] : groups) {
    for (size_t begin = 0; begin < members.size(); begin += options_.batch_size) {
      const size_t end = std::min(members.size(), begin + static_cast<size_t>(options_.batch_size));
      std::vector<const PromptTask*> batch;
      for (size_t i = begin; i < end; ++i) batch.push_back(&tasks[members[i]]);
      ASSIGN_OR_RETURN(std::vector<PromptResult> out, run_batch(batch));
      for (size_t i = begin; i < end; ++i) results[members[i]] = std::move(out[i - begin]);
    }
  }
  return results;
}

StatusOr<std::vector<PromptResult>> RolloutExecutor::run_batch(const std::vector<const PromptTask*>& batch) {
  c10::InferenceMode guard;
  const proto::RolloutTask& first = batch[0]->task;
  std::vector<at::Tensor> starts, conds, cached_x0;
  std::vector<NoiseKey> keys;
  std::set<int64_t> keep;
  bool all_cached = true;
  for (const PromptTask* pt : batch) {
    ASSIGN_OR_RETURN(at::Tensor x, start_state(*pt));
    starts.push_back(x);
    conds.push_back(condition(pt->prompt));
    keys.push_back(NoiseKey{seed_, prompt_keys_.at(pt->prompt), pt->task.generation(), pt->task.candidate(), 0, 0});
    keep.insert(pt->task.keep_steps().begin(), pt->task.keep_steps().end());
    const std::optional<StateStore::Entry> parent =
        pt->task.has_parent() ? store_.find(pt->prompt, pt->task.parent()) : std::nullopt;
    all_cached = all_cached && parent && parent->x0.defined() && pt->task.mutation() == proto::MUTATION_NONE;
    if (all_cached) cached_x0.push_back(parent->x0);
  }
  const at::Tensor cond = at::stack(conds);
  RolloutRange range;
  range.start = first.start_step();
  range.end = first.end_step();
  range.keep.assign(keep.begin(), keep.end());
  if (all_cached) range.start_x0 = at::stack(cached_x0);
  const DenoiseFn model = guided_denoiser(bundle_, schedule_, cond, null_condition_, options_.guidance_scale);
  const DenoiseFn timed = [this, &model](const at::Tensor& x, int64_t step) {
    Stopwatch watch(model_seconds_);
    model_calls_.fetch_add(1);
    return model(x, step);
  };
  RolloutOutput rollout;
  at::Tensor x0_at_end;
  try {
    rollout = run_sampler(options_.sampler, schedule_, at::stack(starts), timed,
                          keyed_step_noise(keys, bundle_.latent_shape(), bundle_.device()), range);
    if (first.score() == proto::SCORE_X0_PREDICTION) {
      x0_at_end = timed(rollout.x, range.end);
      ++rollout.model_calls;
    }
  } catch (const ModuleCallError& e) {
    return e.status();
  }
  const at::Tensor scored = x0_at_end.defined() ? x0_at_end : rollout.x;
  at::Tensor fitness;
  {
    Stopwatch watch(model_seconds_);
    ASSIGN_OR_RETURN(const at::Tensor pixels, bundle_.decode(scored));
    ASSIGN_OR_RETURN(fitness, bundle_.score(bundle_.guidance_reward(), pixels, cond));
  }
  fitness = fitness.to(at::kCPU, at::kDouble);
  std::vector<PromptResult> out;
  for (size_t b = 0; b < batch.size(); ++b) {
    const proto::RolloutTask& t = batch[b]->task;
    const std::set<int> wanted(t.keep_steps().begin(), t.keep_steps().end());
    for (const auto& [step, states] : rollout.kept) {
      if (!wanted.count(static_cast<int>(step))) continue;
      StateStore::Entry entry{states[b].clone(), at::Tensor()};
      if (step == range.end && x0_at_end.defined()) entry.x0 = x0_at_end[b].clone();
      proto::StateRef ref;
      ref.set_generation(t.generation());
      ref.set_candidate(t.candidate());
      ref.set_step(static_cast<uint32_t>(step));
      store_.put(batch[b]->prompt, ref, std::move(entry));
    }
    PromptResult r;
    r.prompt = batch[b]->prompt;
    r.result.set_generation(t.generation());
    r.result.set_candidate(t.candidate());
    r.result.set_fitness(fitness[b].item<double>());
    r.result.add_scores(r.result.fitness());
    r.result.set_nfe(rollout.model_calls);
    r.result.set_decode_calls(1);
    r.result.set_reward_calls(1);
    out.push_back(std::move(r));
  }
  return out;
}

StatusOr<at::Tensor> RolloutExecutor::decode_state(uint32_t prompt, const proto::StateRef& ref) {
  const std::optional<StateStore::Entry> entry = store_.find(prompt, ref);
  if (!entry) return NotFound("state is not resident");
  c10::InferenceMode guard;
  Stopwatch watch(model_seconds_);
  ASSIGN_OR_RETURN(const at::Tensor pixels, bundle_.decode(entry->state.unsqueeze(0)));
  return pixels.to(at::kCPU);
}

StatusOr<std::vector<double>> RolloutExecutor::score_state(uint32_t prompt, const proto::StateRef& ref) {
  ASSIGN_OR_RETURN(const at::Tensor pixels, decode_state(prompt, ref));
  c10::InferenceMode guard;
  const at::Tensor on_device = pixels.to(bundle_.device());
  const at::Tensor cond = condition(prompt).unsqueeze(0);
  Stopwatch watch(model_seconds_);
  std::vector<double> scores;
  for (int r = 0; r < bundle_.reward_count(); ++r) {
    ASSIGN_OR_RETURN(const at::Tensor s, bundle_.score(r, on_device, cond));
    scores.push_back(s.item<double>());
  }
  return scores;
}

}  // namespace evosearch

namespace evosearch {

StatusOr<std::vector<proto::StoredState>> RolloutExecutor::export_states(uint32_t prompt,
                                                                         const std::vector<proto::StateRef>& refs) const {
  std::vector<proto::StoredState> out;
  for (const proto::StateRef& ref : refs) {
    const std::optional<StateStore::Entry> entry = store_.find(prompt, ref);
    if (!entry) return FailedPrecondition("checkpoint: a live state of prompt " + std::to_string(prompt) + " is not resident");
    proto::StoredState s;
    *s.mutable_ref() = ref;
    s.set_state(tensor_to_bytes(entry->state));
    if (entry->x0.defined()) s.set_x0(tensor_to_bytes(entry->x0));
    out.push_back(std::move(s));
  }
  return out;
}

Status RolloutExecutor::import_states(uint32_t prompt, const google::protobuf::RepeatedPtrField<proto::StoredState>& states) {
  for (const proto::StoredState& s : states) {
    StateStore::Entry entry;
    ASSIGN_OR_RETURN(entry.state, tensor_from_bytes(s.state(), bundle_.device()));
    if (!s.x0().empty()) {
      ASSIGN_OR_RETURN(entry.x0, tensor_from_bytes(s.x0(), bundle_.device()));
    }
    store_.put(prompt, s.ref(), std::move(entry));
  }
  return Status::Ok();
}

}  // namespace evosearch
