#include "coordinator/lease_keeper.h"

#include <chrono>
#include <vector>

#include "common/logging.h"

namespace evosearch {

LeaseKeeper::LeaseKeeper(std::unique_ptr<JobStore> store, double lease_seconds)
    : store_(std::move(store)), lease_seconds_(lease_seconds), thread_([this] { loop(); }) {}

LeaseKeeper::~LeaseKeeper() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void LeaseKeeper::keep(const proto::Lease& lease) {
  std::lock_guard<std::mutex> lock(mutex_);
  leases_[lease.prompt()] = lease;
}

void LeaseKeeper::drop(uint32_t prompt) {
  std::lock_guard<std::mutex> lock(mutex_);
  leases_.erase(prompt);
}

std::set<uint32_t> LeaseKeeper::take_lost() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::set<uint32_t> out;
  out.swap(lost_);
  return out;
}

Status LeaseKeeper::error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

void LeaseKeeper::loop() {
  const auto period = std::chrono::duration<double>(lease_seconds_ / 3);
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, period, [this] { return stopping_; });
    if (stopping_) return;
    std::vector<proto::Lease> due;
    for (const auto& [prompt, lease] : leases_) due.push_back(lease);
    lock.unlock();  // the store may take a while (retries); keep() and drop() must not wait for it
    for (proto::Lease& lease : due) {
      const Status renewed = store_->renew(lease, lease_seconds_);
      std::lock_guard<std::mutex> relock(mutex_);
      if (!leases_.count(lease.prompt()) || leases_[lease.prompt()].token() != lease.token()) continue;  // dropped meanwhile
      if (renewed.ok()) {
        leases_[lease.prompt()] = lease;
      } else if (renewed.code() == StatusCode::kFailedPrecondition) {
        spdlog::warn("prompt {}: {}; another coordinator continues it", lease.prompt(), renewed.message());
        leases_.erase(lease.prompt());
        lost_.insert(lease.prompt());
      } else if (error_.ok()) {
        error_ = renewed.with_context("renewing the lease of prompt " + std::to_string(lease.prompt()));
      }
    }
    lock.lock();
  }
}

}  // namespace evosearch
