// Keeps a coordinator's prompt leases alive while it works: a thread of its own renews every
// lease a third of the lease time before it would expire, through its own connection to the job
// store (so a long batch on the job loop's thread never lets a lease lapse). A lease the store
// refuses to renew was lost (it expired and another coordinator claimed the prompt): the job
// loop abandons that prompt without writing anything. A store that stays out of reach longer
// than the retry bound ends the run (error()).
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "jobs/job_store.h"

namespace evosearch {

class LeaseKeeper {
 public:
  // `store` is the keeper's own (a store object is used by one thread).
  LeaseKeeper(std::unique_ptr<JobStore> store, double lease_seconds);
  ~LeaseKeeper();  // stops the thread
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // Job loop thread: start or stop renewing a lease; the lease as last renewed.
  void keep(const proto::Lease& lease);
  void drop(uint32_t prompt);
  // Job loop thread: prompts whose lease was lost since the last call.
  std::set<uint32_t> take_lost();
  // Job loop thread: OK, or why renewing failed for good (the store out of reach too long).
  Status error() const;

 private:
  void loop();

  std::unique_ptr<JobStore> store_;  // the keeper thread only
  const double lease_seconds_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<uint32_t, proto::Lease> leases_;  // guarded by mutex_
  std::set<uint32_t> lost_;                  // guarded by mutex_
  Status error_;                             // guarded by mutex_
  bool stopping_ = false;                    // guarded by mutex_
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace evosearch
