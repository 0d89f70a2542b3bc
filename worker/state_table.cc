#include "worker/state_table.h"

#include <set>

namespace evosearch {

void StateTable::put(uint32_t prompt, const proto::StateRef& ref, Entry entry) {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_[state_key(prompt, ref)] = std::move(entry);
}

std::optional<StateTable::Entry> StateTable::find(uint32_t prompt, const proto::StateRef& ref) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = entries_.find(state_key(prompt, ref));
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

size_t StateTable::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

void StateTable::release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) {
  std::lock_guard<std::mutex> lock(mutex_);
  erase_all_but(entries_, prompt, live);
}

void StateTable::release_prompt(uint32_t prompt) { release_all_but(prompt, {}); }

int64_t StateTable::bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  int64_t total = 0;
  for (const auto& [k, e] : entries_) {
    total += e.state.numel() * e.state.element_size();
    if (e.x0.defined()) total += e.x0.numel() * e.x0.element_size();
  }
  return total;
}

}  // namespace evosearch
