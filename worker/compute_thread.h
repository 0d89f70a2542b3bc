// A distributed worker's compute thread: runs the commands that need the model (encoding a
// prompt, rollout batches, decoding and scoring a state, a generation grid's frames) in the order they were queued, and
// leaves a report for each in an outbox that the communication thread sends on. It holds only
// the RolloutCompute side of the backend, so nothing else can reach the model from here, and
// nothing thrown below it (any exception, LibTorch's included) escapes: it becomes an error
// report.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "evosearch/cluster.pb.h"
#include "worker/backend.h"

namespace evosearch {

class ComputeThread {
 public:
  explicit ComputeThread(RolloutCompute& compute);
  ~ComputeThread();  // stop()
  ComputeThread(const ComputeThread&) = delete;
  ComputeThread& operator=(const ComputeThread&) = delete;

  // Communication thread: queue a command (add_prompt, run, render or take_frames).
  void push(proto::WorkerCommand command);
  // Communication thread: lets the queue drain, then ends the thread.
  void stop();
  // Communication thread: the reports made so far, oldest first.
  std::vector<proto::WorkerReport> take_reports();

  // What one command produces (its report, or an error report naming it); never throws. Exposed for tests.
  static std::optional<proto::WorkerReport> execute(RolloutCompute& compute, const proto::WorkerCommand& command);

 private:
  void loop();

  RolloutCompute& compute_;  // the compute thread only
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<proto::WorkerCommand> queue_;     // guarded by mutex_
  std::vector<proto::WorkerReport> outbox_;    // guarded by mutex_
  bool stopping_ = false;                      // guarded by mutex_
  std::thread thread_;  // last: starts after the members above exist
};

// An error report (the coordinator names the rank it came from): the status's code and message,
// and what failed (a batch id, or a request id; 0 for neither) with its prompts.
proto::WorkerReport error_report(const Status& status, uint64_t batch = 0, uint64_t request = 0,
                                 const std::vector<uint32_t>& prompts = {});
// The same for a command that failed: its batch or request, and its prompts.
proto::WorkerReport error_report(const Status& status, const proto::WorkerCommand& command);

}  // namespace evosearch
