// Resident states are keyed by (prompt, generation, candidate, step) wherever they are kept
// or tracked: the worker's state store, the coordinator's placement map, simulated backends.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "evosearch/search.pb.h"

namespace evosearch {

using StateKey = std::tuple<uint32_t, uint32_t, uint32_t, uint32_t>;

inline StateKey state_key(uint32_t prompt, const proto::StateRef& r) {
  return {prompt, r.generation(), r.candidate(), r.step()};
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
