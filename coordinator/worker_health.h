// What the coordinator knows of each worker's liveness, and the verdict on it: a worker whose
// process is gone (same host), that has sent nothing for `timeout_seconds`, or that answers but
// has shown no progress on its batch for `timeout_seconds` ends the job with a message naming
// its rank, pid and host. Single-threaded (the coordinator's loop); the clock is passed in, so
// tests can drive it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "evosearch/cluster.pb.h"

namespace evosearch {

class WorkerHealth {
 public:
  using Clock = std::chrono::steady_clock;
  // `alive(pid)`: whether a process of this host exists (default: kill(pid, 0)).
  WorkerHealth(const std::vector<int>& ranks, double timeout_seconds, std::function<bool(int)> alive = nullptr);

  // Every clock starts now (before waiting for hellos).
  void start(Clock::time_point now);
  // Any report from `rank` (a heartbeat carries the denoiser step count: a change is progress).
  void heard(int rank, const proto::WorkerReport& report, Clock::time_point now);
  // A batch was handed to `rank` (its size, for messages), or it finished one.
  void batch_started(int rank, size_t tasks, Clock::time_point now);
  void batch_finished(int rank, Clock::time_point now);

  bool said_hello(int rank) const;
  const proto::WorkerHello& hello(int rank) const;
  // Ranks that have not said hello yet.
  std::vector<int> missing() const;
  double model_seconds() const;  // the latest total each worker reported, summed
  proto::PhaseSeconds model_phases() const;  // the same by phase

  // OK, or the first problem found (Aborted for a dead process, DeadlineExceeded for silence or
  // no progress). Checks at most every 0.2 s; in between it returns OK at once.
  Status check(Clock::time_point now);
  // "rank 2 (pid 1234 on node7)".
  std::string describe(int rank) const;

 private:
  struct Worker {
    Clock::time_point heard;       // last message of any kind
    Clock::time_point progressed;  // last sign of computing
    int64_t steps = -1;            // denoiser steps in the latest heartbeat
    size_t batch_tasks = 0;        // tasks of the batch it runs; 0 when idle
    double model_seconds = 0;
    proto::PhaseSeconds model_phases;
    proto::WorkerHello hello;
  };

  double timeout_;
  std::function<bool(int)> alive_;
  std::string host_;  // this host: only processes here can be looked up
  std::map<int, Worker> workers_;
  Clock::time_point last_check_{};
};

}  // namespace evosearch
