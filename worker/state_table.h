// The worker's resident states: latents kept by rollouts, by (prompt, generation, candidate,
// step), with the model's x0 estimate where one was computed at that state. States stay
// where they were computed; the coordinator moves ids and fitness values, not latents.
// Thread-safe (every member takes mutex_): a distributed worker computes on one thread and serves
// state moves on another.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <vector>

#include <ATen/ATen.h>

#include "evosearch/search.pb.h"
#include "common/state_key.h"

namespace evosearch {

class StateTable {
 public:
  struct Entry {
    at::Tensor state;  // [*latent], no batch dimension
    at::Tensor x0;     // the x0 estimate at this state, or undefined
  };

  void put(uint32_t prompt, const proto::StateRef& ref, Entry entry);
  // A copy of the entry (tensors share storage), or nothing when it is not resident.
  std::optional<Entry> find(uint32_t prompt, const proto::StateRef& ref) const;
  // Frees every state of `prompt` that is not in `live`.
  void release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live);
  void release_prompt(uint32_t prompt);
  size_t size() const;
  int64_t bytes() const;

 private:
  mutable std::mutex mutex_;
  std::map<StateKey, Entry> entries_;  // guarded by mutex_
};

}  // namespace evosearch
