// How a kept state is named everywhere: a rollout (generation, candidate) of a prompt, at a
// sampler step. The worker's state store, the coordinator's placement map and checkpoint cache,
// and simulated backends all key their maps by StateKey.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "evosearch/search.pb.h"

namespace evosearch {

// (prompt, generation, candidate, step)
using StateKey = std::tuple<uint32_t, uint32_t, uint32_t, uint32_t>;

inline StateKey state_key(uint32_t prompt, const proto::StateRef& r) {
  return {prompt, r.generation(), r.candidate(), r.step()};
}

inline proto::StateRef state_ref(uint32_t generation, uint32_t candidate, int step) {
  proto::StateRef ref;
  ref.set_generation(generation);
  ref.set_candidate(candidate);
  ref.set_step(static_cast<uint32_t>(step));
  return ref;
}

// "prompt 3 state (generation 1, candidate 4, step 20)", for messages.
inline std::string describe_state(uint32_t prompt, const proto::StateRef& r) {
  return "prompt " + std::to_string(prompt) + " state (generation " + std::to_string(r.generation()) + ", candidate " +
         std::to_string(r.candidate()) + ", step " + std::to_string(r.step()) + ")";
}

// Erases every entry of `prompt` whose state is not in `live`.
template <typename Value>
void erase_all_but(std::map<StateKey, Value>& entries, uint32_t prompt, const std::vector<proto::StateRef>& live) {
  std::set<StateKey> keep;
  for (const auto& r : live) keep.insert(state_key(prompt, r));
  for (auto it = entries.lower_bound({prompt, 0, 0, 0}); it != entries.end() && std::get<0>(it->first) == prompt;) {
    it = keep.count(it->first) ? std::next(it) : entries.erase(it);
  }
}

}  // namespace evosearch
