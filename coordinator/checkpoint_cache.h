// The coordinator's copies of checkpointed states, so each live state crosses to rank 0 once
// however many generations keep it: keyed by the one StateKey, freed with the searcher's live
// set like every other map of states.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "common/state_key.h"
#include "evosearch/job.pb.h"

namespace evosearch {

class CheckpointCache {
 public:
  bool has(uint32_t prompt, const proto::StateRef& ref) const { return states_.count(state_key(prompt, ref)) > 0; }
  void put(uint32_t prompt, proto::StoredState state) {
    const StateKey key = state_key(prompt, state.ref());
    states_[key] = std::move(state);
  }
  const proto::StoredState* find(uint32_t prompt, const proto::StateRef& ref) const {
    const auto it = states_.find(state_key(prompt, ref));
    return it == states_.end() ? nullptr : &it->second;
  }
  void release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) { erase_all_but(states_, prompt, live); }
  void release_prompt(uint32_t prompt) { erase_all_but(states_, prompt, {}); }
  size_t size() const { return states_.size(); }

 private:
  std::map<StateKey, proto::StoredState> states_;
};

}  // namespace evosearch
