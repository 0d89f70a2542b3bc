#include "fake_rollouts.h"

#include <cmath>
#include <set>

namespace evosearch::testing_support {

double FakeRollouts::draw(uint32_t generation, uint32_t candidate, uint32_t step, uint32_t stream) const {
  float v = 0;
  fill_standard_normal(NoiseKey{seed_, 0, generation, candidate, step, stream}, &v, 1);
  return v;
}

StatusOr<std::vector<proto::RolloutResult>> FakeRollouts::run(const std::vector<proto::RolloutTask>& tasks) {
  std::vector<proto::RolloutResult> results;
  for (const proto::RolloutTask& t : tasks) {
    double x;
    if (t.has_parent()) {
      auto it = states_.find(key(t.parent()));
      if (it == states_.end()) return NotFound("parent state was freed or never kept");
      if (static_cast<int>(t.parent().step()) != t.start_step()) return InvalidArgument("parent is not at the start step");
      x = it->second;
      const double eps = draw(t.generation(), t.candidate(), 0, kMutationNoise);
      if (t.mutation() == proto::MUTATION_INTERPOLATE) x = std::sqrt(1 - t.beta() * t.beta()) * x + t.beta() * eps;
      if (t.mutation() == proto::MUTATION_ADD_NOISE) x = x + 0.5 * eps;
    } else {
      if (t.start_step() != 0) return InvalidArgument("a task without parent must start at step 0");
      x = draw(t.generation(), t.candidate(), 0, kInitialNoise);
    }
    const std::set<int> keep(t.keep_steps().begin(), t.keep_steps().end());
    for (int i = t.start_step(); i <= t.end_step(); ++i) {
      if (keep.count(i)) states_[{t.generation(), t.candidate(), static_cast<uint32_t>(i)}] = x;
      if (i < t.end_step()) x += 0.1 * draw(t.generation(), t.candidate(), i, kStepNoise);
    }
    proto::RolloutResult r;
    r.set_generation(t.generation());
    r.set_candidate(t.candidate());
    r.set_fitness(-std::fabs(x - target_));
    r.add_scores(r.fitness());
    r.set_nfe(t.end_step() - t.start_step());
    r.set_decode_calls(1);
    r.set_reward_calls(1);
    results.push_back(r);
  }
  return results;
}

void FakeRollouts::release_all_but(const std::vector<proto::StateRef>& live) {
  std::set<Key> keep;
  for (const auto& r : live) keep.insert(key(r));
  for (auto it = states_.begin(); it != states_.end();) it = keep.count(it->first) ? std::next(it) : states_.erase(it);
}

StatusOr<std::vector<proto::RolloutResult>> FakeRollouts::run_to_end(Searcher& searcher) {
  std::vector<proto::RolloutResult> all;
  while (!searcher.done()) {
    ASSIGN_OR_RETURN(std::vector<proto::RolloutResult> results, run(searcher.next_generation()));
    RETURN_IF_ERROR(searcher.on_results(results));
    release_all_but(searcher.live_states());
    all.insert(all.end(), results.begin(), results.end());
  }
  return all;
}

}  // namespace evosearch::testing_support
