// A gate a test thread waits at until another opens it: for tests that hold a worker thread's
// work (a shard write, a batch) at a known point.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace evosearch::testing_support {

class Gate {
 public:
  void open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  // False when it stayed shut for `limit` (the test then fails instead of hanging).
  bool wait(std::chrono::seconds limit) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, limit, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
};

}  // namespace evosearch::testing_support
