// Where a job's rollouts run, seen from the job loop: in this process (InProcessExecutor) or on
// workers over MPI (DistributedExecutor). Tasks are submitted per generation and results come
// back as they finish, so a distributed executor can keep every worker busy with generations
// of several prompts. No tensors here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/image.h"
#include "common/status.h"
#include "worker/backend.h"

namespace evosearch {

// Counters a distributed run reports (zero in process).
struct TrafficStats {
  int64_t state_moves = 0;        // states sent worker-to-worker over the data plane
  int64_t state_move_bytes = 0;
  int64_t checkpoint_bytes = 0;   // live states sent to the coordinator for checkpoints (each once)
  int64_t kept_states = 0;        // states the rollouts kept (what a gather-all design would collect)
  int64_t started_from_parent = 0;  // tasks that started from a parent state (what it would scatter)
  int64_t state_bytes = 0;        // one state
  double dispatch_gap_seconds = 0;  // sum over generations: last result to first task of the next
  int64_t dispatch_gaps = 0;
};

class Executor {
 public:
  virtual ~Executor() = default;

  virtual Status add_prompt(uint32_t prompt, const std::string& text, uint64_t key) = 0;
  virtual Status import_states(uint32_t prompt, const google::protobuf::RepeatedPtrField<proto::StoredState>& states) = 0;
  // Queues tasks; they run from the next wait() on.
  virtual Status submit(const std::vector<PromptTask>& tasks) = 0;
  // Blocks until some submitted tasks have finished and returns their results (none only when
  // nothing is pending).
  virtual StatusOr<std::vector<PromptResult>> wait() = 0;
  virtual Status release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) = 0;
  virtual Status release_prompt(uint32_t prompt) = 0;
  virtual StatusOr<std::vector<proto::StoredState>> export_states(uint32_t prompt,
                                                                  const std::vector<proto::StateRef>& refs) = 0;
  virtual StatusOr<Image> decode(uint32_t prompt, const proto::StateRef& ref) = 0;
  virtual StatusOr<std::vector<double>> score(uint32_t prompt, const proto::StateRef& ref) = 0;
  virtual double model_seconds() const = 0;
  virtual int workers() const { return 1; }
  virtual TrafficStats traffic() const { return {}; }
};

// Runs everything in this process on one Backend: wait() runs all submitted tasks as one set of
// batches (tasks of different prompts that share a step range run together).
class InProcessExecutor : public Executor {
 public:
  explicit InProcessExecutor(Backend& backend) : backend_(backend) {}

  Status add_prompt(uint32_t prompt, const std::string& text, uint64_t key) override {
    return backend_.add_prompt(prompt, text, key);
  }
  Status import_states(uint32_t prompt, const google::protobuf::RepeatedPtrField<proto::StoredState>& states) override {
    return backend_.import_states(prompt, states);
  }
  Status submit(const std::vector<PromptTask>& tasks) override {
    pending_.insert(pending_.end(), tasks.begin(), tasks.end());
    return Status::Ok();
  }
  StatusOr<std::vector<PromptResult>> wait() override {
    std::vector<PromptTask> tasks;
    tasks.swap(pending_);
    if (tasks.empty()) return std::vector<PromptResult>{};
    return backend_.run(tasks);
  }
  Status release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) override {
    backend_.release_all_but(prompt, live);
    return Status::Ok();
  }
  Status release_prompt(uint32_t prompt) override {
    backend_.release_prompt(prompt);
    return Status::Ok();
  }
  StatusOr<std::vector<proto::StoredState>> export_states(uint32_t prompt, const std::vector<proto::StateRef>& refs) override {
    return backend_.export_states(prompt, refs);
  }
  StatusOr<Image> decode(uint32_t prompt, const proto::StateRef& ref) override { return backend_.decode(prompt, ref); }
  StatusOr<std::vector<double>> score(uint32_t prompt, const proto::StateRef& ref) override {
    return backend_.score(prompt, ref);
  }
  double model_seconds() const override { return backend_.model_seconds(); }

 private:
  Backend& backend_;
  std::vector<PromptTask> pending_;
};

}  // namespace evosearch
