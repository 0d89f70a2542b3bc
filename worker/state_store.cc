#include "worker/state_store.h"

#include <set>

namespace evosearch {

void StateStore::put(uint32_t prompt, const proto::StateRef& ref, Entry entry) {
  entries_[key(prompt, ref)] = std::move(entry);
}

const StateStore::Entry* StateStore::find(uint32_t prompt, const proto::StateRef& ref) const {
  const auto it = entries_.find(key(prompt, ref));
  return it == entries_.end() ? nullptr : &it->second;
}

void StateStore::release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) {
  std::set<Key> keep;
  for (const auto& r : live) keep.insert(key(prompt, r));
  for (auto it = entries_.lower_bound({prompt, 0, 0, 0}); it != entries_.end() && std::get<0>(it->first) == prompt;) {
    it = keep.count(it->first) ? std::next(it) : entries_.erase(it);
  }
}

void StateStore::release_prompt(uint32_t prompt) { release_all_but(prompt, {}); }

int64_t StateStore::bytes() const {
  int64_t total = 0;
  for (const auto& [k, e] : entries_) {
    total += e.state.numel() * e.state.element_size();
    if (e.x0.defined()) total += e.x0.numel() * e.x0.element_size();
  }
  return total;
}

}  // namespace evosearch
