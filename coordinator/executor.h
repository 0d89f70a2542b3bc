// Where a job's rollouts run, seen from the job loop: in this process (LocalExecutor) or on
// worker ranks over MPI (DistributedExecutor). Tasks are submitted per generation and results
// come back as they finish, so a distributed executor can keep every worker busy with
// generations of several prompts. No tensors here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <google/protobuf/repeated_field.h>

#include "common/image.h"
#include "common/status.h"
#include "evosearch/job.pb.h"
#include "evosearch/search.pb.h"

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
  virtual Status submit(const std::vector<proto::PromptTask>& tasks) = 0;
  // Blocks until some submitted tasks have finished and returns their results (none only when
  // nothing is pending).
  virtual StatusOr<std::vector<proto::PromptResult>> wait() = 0;
  virtual Status release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) = 0;
  virtual Status release_prompt(uint32_t prompt) = 0;
  virtual StatusOr<std::vector<proto::StoredState>> export_states(uint32_t prompt,
                                                                  const std::vector<proto::StateRef>& refs) = 0;
  // The frames of a resident state (one for an image).
  virtual StatusOr<std::vector<Image>> decode(uint32_t prompt, const proto::StateRef& ref) = 0;
  virtual StatusOr<std::vector<double>> score(uint32_t prompt, const proto::StateRef& ref) = 0;
  virtual double model_seconds() const = 0;
  virtual int workers() const { return 1; }
  virtual TrafficStats traffic() const { return {}; }
};

}  // namespace evosearch
