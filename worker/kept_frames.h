// The 8-bit frames of samples that a backend decoded to score them, kept for the request that
// follows (the generation grid's final samples; the answer, scored then written) so that no
// sample is decoded a second time. Bounded: per prompt only the latest generation's frames are
// kept (storing a newer generation's drops the older ones), taking frames forgets them, and
// releasing a prompt's states forgets its frames too.
//
// Threads: the compute thread puts and takes; a worker's communication thread releases. One lock.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "common/image.h"
#include "common/state_key.h"

namespace evosearch {

class KeptFrames {
 public:
  void put(uint32_t prompt, const proto::StateRef& ref, std::vector<Image> frames) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = frames_.lower_bound({prompt, 0, 0, 0}); it != frames_.end() && std::get<0>(it->first) == prompt;) {
      it = std::get<1>(it->first) != ref.generation() ? frames_.erase(it) : std::next(it);
    }
    frames_[state_key(prompt, ref)] = std::move(frames);
  }

  // The frames kept for each of `refs` (nullopt where none are), each forgotten once taken.
  std::vector<std::optional<std::vector<Image>>> take(uint32_t prompt, const std::vector<proto::StateRef>& refs) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::optional<std::vector<Image>>> out;
    for (const proto::StateRef& ref : refs) {
      const auto it = frames_.find(state_key(prompt, ref));
      if (it == frames_.end()) {
        out.emplace_back();
        continue;
      }
      out.emplace_back(std::move(it->second));
      frames_.erase(it);
    }
    return out;
  }

  void release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) {
    std::lock_guard<std::mutex> lock(mutex_);
    erase_all_but(frames_, prompt, live);
  }
  void release_prompt(uint32_t prompt) { release_all_but(prompt, {}); }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return frames_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::map<StateKey, std::vector<Image>> frames_;  // guarded by mutex_
};

}  // namespace evosearch
