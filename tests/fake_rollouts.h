// Runs rollout tasks on scalar "states" instead of tensors, so searchers can be tested for
// what they decide without a model. A state is one number; a rollout adds keyed noise per
// step; fitness is how close the final value is to a target. States not reported live by
// the searcher are freed after every generation, so asking for a freed parent fails.
#pragma once

#include <map>
#include <tuple>
#include <vector>

#include "coordinator/search/searcher.h"

namespace evosearch::testing_support {

class FakeRollouts {
 public:
  explicit FakeRollouts(uint64_t seed, double target = 3.0) : seed_(seed), target_(target) {}

  // Runs one generation; fails the test (returns an error) on a task that names a missing state.
  StatusOr<std::vector<proto::RolloutResult>> run(const std::vector<proto::RolloutTask>& tasks);
  // Frees every state the searcher no longer needs.
  void release_all_but(const std::vector<proto::StateRef>& live);
  // Runs a searcher to the end; returns every result it produced.
  StatusOr<std::vector<proto::RolloutResult>> run_to_end(Searcher& searcher);

  size_t stored_states() const { return states_.size(); }
  double state(const proto::StateRef& ref) const { return states_.at(key(ref)); }
  bool has_state(const proto::StateRef& ref) const { return states_.count(key(ref)) > 0; }

 private:
  using Key = std::tuple<uint32_t, uint32_t, uint32_t>;
  static Key key(const proto::StateRef& r) { return {r.generation(), r.candidate(), r.step()}; }
  double draw(uint32_t generation, uint32_t candidate, uint32_t step, uint32_t stream) const;

  uint64_t seed_;
  double target_;
  std::map<Key, double> states_;
};

}  // namespace evosearch::testing_support
