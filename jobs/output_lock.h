// One job, one writer: a run that keeps its job records in the output folder (the file store)
// holds an exclusive lock on <output>/state/run.lock for as long as it runs; the kernel drops it
// when the process ends, however it ends. A second run on the same folder is refused, naming the
// holder (host, pid, since when). Runs that share a job through Redis do not lock the folder:
// their leases keep them apart.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "common/unique_fd.h"

namespace evosearch {

class OutputLock {
 public:
  // Takes the lock, or FailedPrecondition naming the run that holds it.
  static StatusOr<std::unique_ptr<OutputLock>> acquire(const std::string& output_dir);

 private:
  explicit OutputLock(int fd) : fd_(fd) {}
  UniqueFd fd_;  // open (and locked) for the life of the run
};

}  // namespace evosearch
