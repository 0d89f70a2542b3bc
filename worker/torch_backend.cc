// TorchBackend's compute side: prompts, rollout batches, decoding and scoring.
#include "worker/torch_backend.h"

#include <cmath>
#include <optional>
#include <set>
#include <tuple>

#include "common/stopwatch.h"
#include "worker/guidance.h"
#include "worker/keyed_noise.h"
#include "worker/pixels.h"

namespace evosearch {
namespace {

// Thrown through the sampler when should_stop() says so; caught by guarded().
struct BatchAbandoned {};

// Runs `body` on the compute thread; any exception LibTorch (or anything below it) throws becomes
// a Status naming `what`, so no error leaves the backend as an exception.
template <typename Body>
auto guarded(ThreadOwner& owner, const char* what, Body&& body) -> decltype(body()) {
  RETURN_IF_ERROR(owner.check());
  try {
    return body();
  } catch (const ModuleCallError& e) {
    return e.status();
  } catch (const BatchAbandoned&) {
    return Status(StatusCode::kUnavailable, std::string(what) + ": abandoned on request (a stop signal)");
  } catch (const std::exception& e) {
    return Internal(std::string(what) + ": LibTorch raised: " + short_torch_error(e));
  }
}

}  // namespace

TorchBackend::TorchBackend(Bundle& bundle, BackendOptions options, Schedule schedule)
    : bundle_(bundle),
      options_(options),
      schedule_(std::move(schedule)),
      noise_std_(step_noise_std(options.sampler, schedule_)) {}

Status TorchBackend::check_prompt(uint32_t prompt) const {
  if (!conditions_.count(prompt)) return InvalidArgument("task for unknown prompt " + std::to_string(prompt));
  return Status::Ok();
}

Status TorchBackend::add_prompt(uint32_t prompt, const std::string& text, uint64_t key) {
  return guarded(compute_thread_, "encoding a prompt", [&]() -> Status {
    c10::InferenceMode guard;
    Stopwatch watch(encode_seconds_);
    if (!null_condition_.defined()) {
      ASSIGN_OR_RETURN(const at::Tensor null_cond, bundle_.encode({bundle_.manifest().null_prompt()}));
      null_condition_ = null_cond[0];
    }
    ASSIGN_OR_RETURN(const at::Tensor cond, bundle_.encode({text}));
    conditions_[prompt] = cond[0];
    prompt_keys_[prompt] = key;
    prompt_texts_[prompt] = text;
    return Status::Ok();
  });
}

double TorchBackend::model_seconds() const {
  return encode_seconds_.load() + denoise_seconds_.load() + decode_seconds_.load() + score_seconds_.load();
}

proto::PhaseSeconds TorchBackend::model_phases() const {
  proto::PhaseSeconds p;
  p.set_encode(encode_seconds_.load());
  p.set_denoise(denoise_seconds_.load());
  p.set_decode(decode_seconds_.load());
  p.set_score(score_seconds_.load());
  return p;
}

StatusOr<at::Tensor> TorchBackend::start_state(const proto::PromptRolloutTask& pt) {
  const proto::RolloutTask& t = pt.task();
  const uint64_t pkey = prompt_keys_.at(pt.prompt());
  if (!t.has_parent()) {
    return keyed_normal({NoiseKey{options_.seed, pkey, t.generation(), t.candidate(), 0, kInitialNoise}},
                        bundle_.latent_shape(), bundle_.device())[0];
  }
  const std::optional<StateTable::Entry> parent = store_.find(pt.prompt(), t.parent());
  if (!parent) return FailedPrecondition("parent " + describe_state(pt.prompt(), t.parent()) + " is not resident");
  if (t.mutation() == proto::MUTATION_NONE) return parent->state;
  const at::Tensor eps = keyed_normal({NoiseKey{options_.seed, pkey, t.generation(), t.candidate(), 0, kMutationNoise}},
                                      bundle_.latent_shape(), bundle_.device())[0];
  if (t.mutation() == proto::MUTATION_INTERPOLATE) {  // Eq. 7
    return std::sqrt(1.0 - t.beta() * t.beta()) * parent->state + t.beta() * eps;
  }
  return parent->state + noise_std_[t.start_step()] * eps;  // Eq. 8: the sampler's own noise std at s
}

StatusOr<std::vector<proto::PromptRolloutResult>> TorchBackend::run(const std::vector<proto::PromptRolloutTask>& tasks) {
  return guarded(compute_thread_, "running a rollout batch", [&]() -> StatusOr<std::vector<proto::PromptRolloutResult>> {
    // Tasks that share a step range and scoring run together, whatever prompt they serve.
    std::map<std::tuple<int, int, int>, std::vector<size_t>> groups;
    for (size_t i = 0; i < tasks.size(); ++i) {
      const proto::RolloutTask& t = tasks[i].task();
      RETURN_IF_ERROR(check_prompt(tasks[i].prompt()));
      groups[{t.start_step(), t.end_step(), static_cast<int>(t.score())}].push_back(i);
    }
    std::vector<proto::PromptRolloutResult> results(tasks.size());
    const size_t batch_size = static_cast<size_t>(options_.batch_size);
    for (const auto& [range, members] : groups) {
      for (size_t begin = 0; begin < members.size(); begin += batch_size) {
        const size_t end = std::min(members.size(), begin + batch_size);
        std::vector<const proto::PromptRolloutTask*> batch;
        for (size_t i = begin; i < end; ++i) batch.push_back(&tasks[members[i]]);
        ASSIGN_OR_RETURN(std::vector<proto::PromptRolloutResult> out, run_batch(batch));
        for (size_t i = begin; i < end; ++i) results[members[i]] = std::move(out[i - begin]);
      }
    }
    return results;
  });
}

StatusOr<std::vector<proto::PromptRolloutResult>> TorchBackend::run_batch(const std::vector<const proto::PromptRolloutTask*>& batch) {
  c10::InferenceMode guard;
  const proto::RolloutTask& first = batch[0]->task();
  std::vector<at::Tensor> starts, conds, cached_x0;
  std::vector<std::string> texts;
  std::vector<NoiseKey> keys;
  std::set<int64_t> keep;
  bool all_cached = true;
  for (const proto::PromptRolloutTask* pt : batch) {
    const proto::RolloutTask& t = pt->task();
    ASSIGN_OR_RETURN(at::Tensor x, start_state(*pt));
    starts.push_back(x);
    conds.push_back(conditions_.at(pt->prompt()));
    texts.push_back(prompt_texts_.at(pt->prompt()));
    keys.push_back(NoiseKey{options_.seed, prompt_keys_.at(pt->prompt()), t.generation(), t.candidate(), 0, 0});
    keep.insert(t.keep_steps().begin(), t.keep_steps().end());
    // A particle that moves on unmutated reuses the x0 estimate scored at its state (no extra call).
    const std::optional<StateTable::Entry> parent = t.has_parent() ? store_.find(pt->prompt(), t.parent()) : std::nullopt;
    all_cached = all_cached && parent && parent->x0.defined() && t.mutation() == proto::MUTATION_NONE;
    if (all_cached) cached_x0.push_back(parent->x0);
  }
  const at::Tensor cond = at::stack(conds);
  RolloutRange range;
  range.start = first.start_step();
  range.end = first.end_step();
  range.keep.assign(keep.begin(), keep.end());
  if (all_cached) range.start_x0 = at::stack(cached_x0);
  // Every module output of the batch is checked on the device and read once, with the fitness.
  FiniteGuard checks;
  const DenoiseFn model = guided_denoiser(bundle_, schedule_, cond, null_condition_, options_.guidance_scale, &checks);
  const DenoiseFn timed = [this, &model](const at::Tensor& x, int64_t step) {
    if (options_.should_stop && options_.should_stop()) throw BatchAbandoned{};
    Stopwatch watch(denoise_seconds_);
    model_calls_.fetch_add(1);
    return model(x, step);
  };
  RolloutOutput rollout = run_sampler(options_.sampler, schedule_, at::stack(starts), timed,
                                      keyed_step_noise(keys, bundle_.latent_shape(), bundle_.device()), range);
  at::Tensor x0_at_end;
  if (first.score() == proto::SCORE_X0_PREDICTION) {
    x0_at_end = timed(rollout.x, range.end);
    ++rollout.model_calls;
  }
  // Final samples scored as they are: their frames, decoded here anyway, are what a grid shows.
  const bool keep_frames = options_.keep_final_frames && range.end == options_.sampler.steps && !x0_at_end.defined();
  std::vector<std::vector<Image>> frames;
  ASSIGN_OR_RETURN(const at::Tensor fitness, guidance_fitness(x0_at_end.defined() ? x0_at_end : rollout.x, cond, texts, checks,
                                                              keep_frames ? &frames : nullptr));
  const auto fitness_of = fitness.accessor<double, 1>();
  std::vector<proto::PromptRolloutResult> out;
  for (size_t b = 0; b < batch.size(); ++b) {
    const proto::RolloutTask& t = batch[b]->task();
    const std::set<int> wanted(t.keep_steps().begin(), t.keep_steps().end());
    for (const auto& [step, states] : rollout.kept) {
      if (!wanted.count(static_cast<int>(step))) continue;
      StateTable::Entry entry{states[b].clone(), at::Tensor()};
      if (step == range.end && x0_at_end.defined()) entry.x0 = x0_at_end[b].clone();
      store_.put(batch[b]->prompt(), state_ref(t.generation(), t.candidate(), static_cast<int>(step)), std::move(entry));
    }
    if (keep_frames) {
      kept_frames_.put(batch[b]->prompt(), state_ref(t.generation(), t.candidate(), static_cast<int>(range.end)),
                       std::move(frames[b]));
    }
    proto::PromptRolloutResult r;
    r.set_prompt(batch[b]->prompt());
    proto::RolloutResult* result = r.mutable_result();
    result->set_generation(t.generation());
    result->set_candidate(t.candidate());
    result->set_fitness(fitness_of[static_cast<int64_t>(b)]);
    result->add_scores(result->fitness());
    result->set_nfe(rollout.model_calls);
    result->set_decode_calls(1);
    result->set_reward_calls(1);
    out.push_back(std::move(r));
  }
  return out;
}

StatusOr<at::Tensor> TorchBackend::guidance_fitness(const at::Tensor& latents, const at::Tensor& cond,
                                                    const std::vector<std::string>& texts, FiniteGuard& guard,
                                                    std::vector<std::vector<Image>>* frames) {
  const int64_t n = latents.size(0);
  const int64_t chunk = options_.decode_batch > 0 ? std::min<int64_t>(options_.decode_batch, n) : n;
  std::vector<at::Tensor> parts, kept_pixels;
  for (int64_t begin = 0; begin < n; begin += chunk) {
    const int64_t end = std::min(n, begin + chunk);
    at::Tensor pixels, scores;
    {
      Stopwatch watch(decode_seconds_);
      ASSIGN_OR_RETURN(pixels, bundle_.decode(latents.slice(0, begin, end), &guard));
      samples_decoded_ += end - begin;
    }
    if (frames) kept_pixels.push_back(pixels);
    {
      Stopwatch watch(score_seconds_);
      ASSIGN_OR_RETURN(scores, bundle_.score(bundle_.guidance_reward(), pixels, cond.slice(0, begin, end),
                                           {texts.begin() + begin, texts.begin() + end}, &guard));
    }
    parts.push_back(scores);
  }
  // The batch's one host read: the scores, with every check of its module outputs. On a CUDA
  // device the batch's queued work finishes here; it is counted as denoising, most of it.
  at::Tensor fitness;
  {
    Stopwatch watch(denoise_seconds_);
    ASSIGN_OR_RETURN(fitness, guard.read(at::cat(parts)));
  }
  // The grid's frames, once every output was found finite: 8-bit copies of pixels decoded above.
  for (const at::Tensor& pixels : kept_pixels) {
    for (std::vector<Image>& f : to_sample_frames(pixels)) frames->push_back(std::move(f));
  }
  return fitness;
}

StatusOr<at::Tensor> TorchBackend::decode_pixels(uint32_t prompt, const proto::StateRef& ref) {
  return guarded(compute_thread_, "decoding a state", [&]() -> StatusOr<at::Tensor> {
    const std::optional<StateTable::Entry> entry = store_.find(prompt, ref);
    if (!entry) return NotFound(describe_state(prompt, ref) + " is not resident");
    c10::InferenceMode guard;
    Stopwatch watch(decode_seconds_);
    ASSIGN_OR_RETURN(const at::Tensor pixels, bundle_.decode(entry->state.unsqueeze(0)));
    ++samples_decoded_;
    return pixels.to(at::kCPU);
  });
}

StatusOr<std::vector<Image>> TorchBackend::decode(uint32_t prompt, const proto::StateRef& ref) {
  return guarded(compute_thread_, "decoding a state", [&]() -> StatusOr<std::vector<Image>> {
    std::optional<std::vector<Image>> scored = std::move(scored_frames_.take(prompt, {ref})[0]);
    if (scored) return std::move(*scored);
    ASSIGN_OR_RETURN(const at::Tensor pixels, decode_pixels(prompt, ref));
    return to_frames(pixels[0]);
  });
}

StatusOr<std::vector<std::vector<Image>>> TorchBackend::take_frames(uint32_t prompt,
                                                                   const std::vector<proto::StateRef>& refs) {
  RETURN_IF_ERROR(compute_thread_.check());
  std::vector<std::optional<std::vector<Image>>> kept = kept_frames_.take(prompt, refs);
  std::vector<std::vector<Image>> out;
  for (size_t i = 0; i < refs.size(); ++i) {
    if (kept[i]) {
      out.push_back(std::move(*kept[i]));
      continue;
    }
    ASSIGN_OR_RETURN(std::vector<Image> frames, decode(prompt, refs[i]));
    out.push_back(std::move(frames));
  }
  return out;
}

StatusOr<std::vector<double>> TorchBackend::score(uint32_t prompt, const proto::StateRef& ref) {
  ASSIGN_OR_RETURN(const at::Tensor pixels, decode_pixels(prompt, ref));
  ASSIGN_OR_RETURN(std::vector<double> scores, score_pixels(prompt, pixels));
  // The answer is written next: its frames come from this decode (at video size, seconds of VAE).
  RETURN_IF_ERROR(guarded(compute_thread_, "keeping a scored state's frames", [&]() -> Status {
    scored_frames_.put(prompt, ref, to_frames(pixels[0]));
    return Status::Ok();
  }));
  return scores;
}

StatusOr<std::vector<double>> TorchBackend::score_pixels(uint32_t prompt, const at::Tensor& pixels) {
  return guarded(compute_thread_, "scoring a state", [&]() -> StatusOr<std::vector<double>> {
    RETURN_IF_ERROR(check_prompt(prompt));
    c10::InferenceMode guard;
    const at::Tensor on_device = pixels.to(bundle_.device());
    const at::Tensor cond = conditions_.at(prompt).unsqueeze(0);
    Stopwatch watch(score_seconds_);
    std::vector<double> scores;
    for (int r = 0; r < bundle_.reward_count(); ++r) {
      ASSIGN_OR_RETURN(const at::Tensor s, bundle_.score(r, on_device, cond, {prompt_texts_.at(prompt)}));
      scores.push_back(s.item<double>());
    }
    return scores;
  });
}

}  // namespace evosearch
