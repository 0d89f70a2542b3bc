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
#include "evosearch/job_records.pb.h"
#include "evosearch/search.pb.h"

namespace evosearch {

// Counters of a run's traffic (in process only shard_bytes, shard_states and kept_states are counted).
struct TrafficStats {
  int64_t state_moves = 0;        // states sent worker-to-worker over the data plane
  int64_t state_move_bytes = 0;
  int64_t shard_bytes = 0;        // checkpoint shards written, by whoever holds the states
  int64_t coordinator_bytes_in = 0;  // control-plane bytes that reached the coordinator (distributed)
  int64_t shard_states = 0;       // states written into checkpoint shards (each once: checkpoints are incremental)
  // States checkpointed for the first time: what a design that sends each live state to the
  // coordinator once (this project's before workers wrote shards) would have sent to rank 0.
  int64_t first_checkpoint_states = 0;
  int64_t kept_states = 0;        // states the rollouts kept (what a gather-all design would collect)
  int64_t started_from_parent = 0;  // tasks that started from a parent state (what it would scatter)
  int64_t state_bytes = 0;        // one state
  double dispatch_gap_seconds = 0;  // sum over generations: last result to first task of the next
  int64_t dispatch_gaps = 0;
};

// Where a checkpoint's shard files go: the job's output folder, and what names them.
struct ShardTarget {
  std::string output_dir;
  uint32_t generation = 0;  // generations completed
  uint64_t token = 0;       // the prompt's lease token
};

// The pixels of resident states: what the answer writer (coordinator/answer_writer.h) reads.
class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // The frames of a resident state (one for an image).
  virtual StatusOr<std::vector<Image>> decode(uint32_t prompt, const proto::StateRef& ref) = 0;
  // The frames of several final states of a prompt (a generation grid's candidates), in `refs`
  // order, in one round: where the backend kept the pixels it decoded to score them, those are
  // handed over (each once) instead of decoding again; a distributed executor asks each worker
  // that ran some of them once.
  virtual StatusOr<std::vector<std::vector<Image>>> take_frames(uint32_t prompt, const std::vector<proto::StateRef>& refs) = 0;
};

class Executor : public FrameSource {
 public:

  virtual Status add_prompt(uint32_t prompt, const std::string& text, uint64_t key) = 0;
  // Queues tasks; they run from the next wait() on.
  virtual Status submit(const std::vector<proto::PromptRolloutTask>& tasks) = 0;
  // Blocks until some submitted tasks have finished and returns their results (none only when
  // nothing is pending). A model error (StatusCode::kModelError) drops every task of the prompts
  // that failed_prompts() names then: the job loop charges them (coordinator/job_loop.h).
  virtual StatusOr<std::vector<proto::PromptRolloutResult>> wait() = 0;
  // After wait() gave a model error: the prompts of the failed batch, each once, whose tasks it
  // dropped. In process that is every prompt with tasks pending (one batch); distributed, the
  // prompts of the worker batch that failed, or the one prompt whose encoder failed.
  virtual std::vector<uint32_t> failed_prompts() const = 0;
  virtual Status release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) = 0;
  virtual Status release_prompt(uint32_t prompt) = 0;
  // Checkpoints. Writes the resident states `refs` of `prompt` into shard files where they are
  // (one file in process; one per worker holding some), each durable (written, fsynced, renamed)
  // before this returns; the coordinator only sees their references. The job loop asks only for
  // the live states that no committed shard holds yet (common/shard_files.h, plan_shards).
  virtual StatusOr<std::vector<proto::ShardRef>> write_shards(uint32_t prompt, const std::vector<proto::StateRef>& refs,
                                                              const ShardTarget& target) = 0;
  // Makes a committed checkpoint's states resident again, each shard's checksum verified by the
  // process that reads it. A shard may hold states that are no longer live: the job loop frees
  // them with release_all_but afterwards.
  virtual Status load_shards(uint32_t prompt, const std::string& output_dir,
                             const google::protobuf::RepeatedPtrField<proto::ShardRef>& shards) = 0;
  virtual StatusOr<std::vector<double>> score(uint32_t prompt, const proto::StateRef& ref) = 0;
  virtual double model_seconds() const = 0;
  virtual proto::PhaseSeconds model_phases() const = 0;  // model_seconds by phase (encode, denoise, decode, score)
  virtual int workers() const { return 1; }
  virtual TrafficStats traffic() const { return {}; }
};

}  // namespace evosearch
