// Requests the coordinator sent to a worker and is waiting on (checkpoint exports, samples).
// The waiter owns its request: a Pending holds the id and gives it back when destroyed, so a
// reply that arrives after its waiter gave up (an error elsewhere) is dropped instead of piling
// up, and no shared map of replies outlives the request.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "evosearch/cluster.pb.h"

namespace evosearch {

class ReplyTracker {
 public:
  class Pending {
   public:
    Pending(Pending&& other) noexcept : tracker_(other.tracker_), id_(other.id_) { other.tracker_ = nullptr; }
    Pending(const Pending&) = delete;
    Pending& operator=(const Pending&) = delete;
    Pending& operator=(Pending&&) = delete;
    ~Pending() {
      if (tracker_) tracker_->waiting_.erase(id_);
    }
    uint64_t id() const { return id_; }
    // The reply, once it has come (then it is handed over and gone from the tracker).
    std::optional<proto::WorkerReport> take() {
      auto it = tracker_->waiting_.find(id_);
      if (it == tracker_->waiting_.end() || !it->second) return std::nullopt;
      std::optional<proto::WorkerReport> reply = std::move(it->second);
      it->second.reset();
      return reply;
    }

   private:
    friend class ReplyTracker;
    Pending(ReplyTracker* tracker, uint64_t id) : tracker_(tracker), id_(id) {}
    ReplyTracker* tracker_;
    uint64_t id_;
  };

  // A new request id, waited on until the Pending is destroyed.
  Pending open() {
    const uint64_t id = next_id_++;
    waiting_[id];
    return Pending(this, id);
  }
  // A reply for `id`; false (and dropped) when nobody waits for it.
  bool deliver(uint64_t id, proto::WorkerReport reply) {
    const auto it = waiting_.find(id);
    if (it == waiting_.end()) return false;
    it->second = std::move(reply);
    return true;
  }
  size_t waiting() const { return waiting_.size(); }

 private:
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::optional<proto::WorkerReport>> waiting_;  // id -> the reply once it came
};

}  // namespace evosearch
