// The coordinator's side of a distributed job (rank 0): an Executor whose rollouts run on worker
// ranks. The worker's end of the protocol is worker/worker_loop.h.
//
// The protocol, as the coordinator runs it:
//   1. connect(): wait for every worker's Hello (within the worker timeout); all must report the
//      same state size.
//   2. add_prompt(): broadcast AddPrompt (every worker encodes the prompt). load_shards(): each
//      shard of a resumed prompt's checkpoint is read by one worker (round robin, LoadShard),
//      which verifies it and makes its states resident; the placement map records where.
//   3. submit(): tasks enter the scheduler (coordinator/scheduler.h). dispatch(), run on every
//      step of every wait: idle workers get batches; a task whose parent state lives on another
//      worker first gets an Exchange round (sent to sender and receiver), then the Run command.
//   4. wait(): poll reports. BatchDone frees the worker and records where the states it kept now
//      live; every report counts as a sign of life (WorkerHealth); an Error ends the job. Between
//      reports the health check runs: a dead process, silence, or no progress for the worker
//      timeout ends the job naming the rank.
//   5. release_all_but()/release_prompt(): broadcast Release, so workers free what no searcher
//      needs.
//   6. write_shards(): every worker holding some of a checkpoint's states writes them into its own
//      shard file (WriteShard) and answers with its reference (ShardWritten); states never come to
//      the coordinator. decode(), score(): Render requests answered by the worker holding the
//      state. take_frames() (a generation grid): one TakeFrames per worker that ran some of the
//      candidates, answered with the frames it kept from scoring them. All are waited for through
//      the same polling step (ReplyTracker).
//   7. shutdown(): broadcast Shutdown and flush.
#pragma once

#include <chrono>
#include <map>
#include <vector>

#include "cluster/mpi_channel.h"
#include "coordinator/executor.h"
#include "coordinator/reply_tracker.h"
#include "coordinator/scheduler.h"
#include "coordinator/worker_health.h"
#include "evosearch/cluster.pb.h"

namespace evosearch {

struct DistributedOptions {
  std::vector<int> workers;      // world ranks that run rollouts
  int batch_size = 32;
  double worker_timeout = 300;   // seconds without an answer or progress before a rank counts as hung
};

class DistributedExecutor final : public Executor {
 public:
  DistributedExecutor(MpiChannel& channel, DistributedOptions options);

  Status connect();   // step 1
  Status shutdown();  // step 7

  Status add_prompt(uint32_t prompt, const std::string& text, uint64_t key) override;
  Status submit(const std::vector<proto::PromptRolloutTask>& tasks) override;
  StatusOr<std::vector<proto::PromptRolloutResult>> wait() override;
  Status release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) override;
  Status release_prompt(uint32_t prompt) override;
  StatusOr<std::vector<proto::ShardRef>> write_shards(uint32_t prompt, const std::vector<proto::StateRef>& refs,
                                                      const ShardTarget& target) override;
  Status load_shards(uint32_t prompt, const std::string& output_dir,
                     const google::protobuf::RepeatedPtrField<proto::ShardRef>& shards) override;
  StatusOr<std::vector<Image>> decode(uint32_t prompt, const proto::StateRef& ref) override;
  StatusOr<std::vector<double>> score(uint32_t prompt, const proto::StateRef& ref) override;
  StatusOr<std::vector<std::vector<Image>>> take_frames(uint32_t prompt, const std::vector<proto::StateRef>& refs) override;
  double model_seconds() const override { return health_.model_seconds(); }
  proto::PhaseSeconds model_phases() const override { return health_.model_phases(); }
  int workers() const override { return static_cast<int>(options_.workers.size()); }
  TrafficStats traffic() const override { return traffic_; }

 private:
  using Clock = std::chrono::steady_clock;
  // What a worker is running: the batch it was sent, in task order.
  struct Batch {
    uint64_t id = 0;
    std::vector<proto::PromptRolloutTask> tasks;
  };

  Status send(int rank, const proto::WorkerCommand& command);
  Status broadcast(const proto::WorkerCommand& command);
  Status dispatch();
  // One step of every waiting loop: handle a report if one came (then hand out work), else check
  // the workers' health and back off. True when a report came.
  StatusOr<bool> progress(Backoff& backoff);
  Status handle(const proto::WorkerReport& report);
  Status handle_done(int rank, const proto::BatchDone& done);
  // Polls until every one of `pending` has its reply (the requests were sent already).
  StatusOr<std::vector<proto::WorkerReport>> await(std::vector<ReplyTracker::Pending>& pending);
  StatusOr<proto::RenderReply> render(uint32_t prompt, const proto::StateRef& ref, bool decode, bool score);
  int holder_of(uint32_t prompt, const proto::StateRef& ref) const;

  MpiChannel& channel_;
  const DistributedOptions options_;
  WorkerHealth health_;
  Scheduler scheduler_;
  StatePlacement placement_;
  ReplyTracker replies_;
  std::map<StateKey, bool> checkpointed_;  // live states in some shard already (for TrafficStats only)
  std::map<StateKey, int> computed_on_;    // a task's end state -> the rank that ran it (and kept its frames)
  std::map<int, Batch> running_;                         // worker rank -> its batch, while it runs one
  std::vector<proto::PromptRolloutResult> finished_;            // results not yet returned by wait()
  std::map<uint32_t, int> outstanding_;                  // tasks per prompt submitted, not yet returned
  std::map<uint32_t, Clock::time_point> generation_end_; // when a prompt's last result came
  uint64_t next_batch_ = 1;
  uint64_t next_round_ = 1;
  size_t next_import_ = 0;
  TrafficStats traffic_;
  bool shut_down_ = false;
};

}  // namespace evosearch
