#include "simulated_backend.h"

#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "common/keyed_rng.h"
#include "coordinator/search/searcher.h"

namespace evosearch::bench {

Status SimulatedBackend::add_prompt(uint32_t prompt, const std::string&, uint64_t key) {
  std::lock_guard<std::mutex> lock(mutex_);
  keys_[prompt] = key;
  return Status::Ok();
}

StatusOr<std::string> SimulatedBackend::find(uint32_t prompt, const proto::StateRef& ref) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = states_.find(state_key(prompt, ref));
  if (it == states_.end()) return FailedPrecondition("simulated state is not resident");
  return it->second;
}

StatusOr<std::vector<proto::PromptRolloutResult>> SimulatedBackend::run(const std::vector<proto::PromptRolloutTask>& tasks) {
  std::vector<proto::PromptRolloutResult> out;
  int64_t sample_steps = 0;
  for (const proto::PromptRolloutTask& t : tasks) sample_steps += t.task().end_step() - t.task().start_step();
  // The simulated cost: per sample and step, as a GPU running one sample after another would.
  const auto start = std::chrono::steady_clock::now();
  const double step_seconds = step_ms_ / 1000.0;
  for (int64_t s = 1; s <= sample_steps; ++s) {
    std::this_thread::sleep_until(start + std::chrono::duration<double>(s * step_seconds));
    steps_.fetch_add(1);
  }
  model_seconds_.store(model_seconds_.load() + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  for (const proto::PromptRolloutTask& pt : tasks) {
    const proto::RolloutTask& t = pt.task();
    uint64_t prompt_key = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      prompt_key = keys_.at(pt.prompt());
    }
    if (t.has_parent()) RETURN_IF_ERROR(find(pt.prompt(), t.parent()).status());
    // Fitness: keyed, so every worker count gives the same numbers.
    double u = 0;
    fill_uniform(NoiseKey{7, prompt_key, t.generation(), t.candidate(), 0, 99}, &u, 1);
    for (int step : t.keep_steps()) {
      std::string bytes(static_cast<size_t>(state_bytes_), '\0');
      std::memcpy(bytes.data(), &u, std::min<size_t>(sizeof u, bytes.size()));
      std::lock_guard<std::mutex> lock(mutex_);
      states_[state_key(pt.prompt(), state_ref(t.generation(), t.candidate(), step))] = std::move(bytes);
    }
    proto::PromptRolloutResult r;
    r.set_prompt(pt.prompt());
    proto::RolloutResult* result = r.mutable_result();
    result->set_generation(t.generation());
    result->set_candidate(t.candidate());
    result->set_fitness(u);
    result->add_scores(u);
    result->set_nfe(t.end_step() - t.start_step());
    result->set_decode_calls(1);
    result->set_reward_calls(1);
    out.push_back(std::move(r));
  }
  return out;
}

void SimulatedBackend::release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) {
  std::lock_guard<std::mutex> lock(mutex_);
  erase_all_but(states_, prompt, live);
}

StatusOr<std::vector<proto::StoredState>> SimulatedBackend::export_states(uint32_t prompt,
                                                                          const std::vector<proto::StateRef>& refs) {
  std::vector<proto::StoredState> out;
  for (const auto& r : refs) {
    ASSIGN_OR_RETURN(std::string bytes, find(prompt, r));
    proto::StoredState s;
    *s.mutable_ref() = r;
    s.set_state(std::move(bytes));
    out.push_back(std::move(s));
  }
  return out;
}

Status SimulatedBackend::import_states(uint32_t prompt, const google::protobuf::RepeatedPtrField<proto::StoredState>& states) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& s : states) states_[state_key(prompt, s.ref())] = s.state();
  return Status::Ok();
}

StatusOr<std::vector<Image>> SimulatedBackend::decode(uint32_t prompt, const proto::StateRef& ref) {
  RETURN_IF_ERROR(find(prompt, ref).status());
  return std::vector<Image>{Image(4, 4, 1, 128)};
}

StatusOr<std::vector<double>> SimulatedBackend::score(uint32_t prompt, const proto::StateRef& ref) {
  ASSIGN_OR_RETURN(const std::string bytes, find(prompt, ref));
  double u = 0;
  std::memcpy(&u, bytes.data(), std::min(sizeof u, bytes.size()));
  return std::vector<double>{u};
}

StatusOr<StateBuffer> SimulatedBackend::outgoing(uint32_t prompt, const proto::StateRef& ref, bool, bool) {
  ASSIGN_OR_RETURN(std::string bytes, find(prompt, ref));
  auto owner = std::make_shared<std::string>(std::move(bytes));
  return StateBuffer{owner->data(), owner->size(), owner, nullptr};
}

StatusOr<StateBuffer> SimulatedBackend::incoming(bool, bool) {
  auto owner = std::make_shared<std::string>(static_cast<size_t>(state_bytes_), '\0');
  return StateBuffer{owner->data(), owner->size(), owner, nullptr};
}

Status SimulatedBackend::store_incoming(uint32_t prompt, const proto::StateRef& ref, bool, const StateBuffer& buffer) {
  std::lock_guard<std::mutex> lock(mutex_);
  states_[state_key(prompt, ref)] = *std::static_pointer_cast<std::string>(buffer.owner);
  return Status::Ok();
}

}  // namespace evosearch::bench
