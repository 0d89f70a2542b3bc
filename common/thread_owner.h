// For objects whose methods must all run on one thread: the first thread that calls check()
// owns the object, and a call from any other thread is refused with a Status instead of racing.
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "common/status.h"

namespace evosearch {

class ThreadOwner {
 public:
  explicit ThreadOwner(std::string what) : what_(std::move(what)) {}

  Status check() {
    const std::thread::id me = std::this_thread::get_id();
    std::thread::id expected;
    if (owner_.compare_exchange_strong(expected, me) || expected == me) return Status::Ok();
    return FailedPrecondition(what_ + " was called from a second thread; it belongs to the thread that called it first");
  }

 private:
  std::string what_;
  std::atomic<std::thread::id> owner_{};
};

}  // namespace evosearch
