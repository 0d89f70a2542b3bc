// The coordinator's side of a distributed job (rank 0): an Executor whose rollouts run on worker
// ranks. The worker's end of the protocol is worker/worker_loop.h.
//
// The protocol, as the coordinator runs it:
//   1. connect(): wait for every worker's Hello (within the worker timeout); all must report the
//      same state size.
//   2. add_prompt(): AddPrompt to every worker (each encodes the prompt and answers); the prompt's
//      tasks wait until every worker has, so none runs where the encoder failed. load_shards(): each
//      shard of a resumed prompt's checkpoint is read by one worker (round robin, LoadShard),
//      which verifies it and makes its states resident; the placement map records where.
//   3. submit(): tasks enter the scheduler (coordinator/scheduler.h). dispatch(), run on every
//      step of every wait: idle workers get batches; a task whose parent state lives on another
//      worker first gets an Exchange round (sent to sender and receiver), then the Run command.
//   4. wait(): poll reports. BatchDone frees the worker and records where the states it kept now
//      live; every report counts as a sign of life (WorkerHealth). An Error carries the worker's
//      Status code and what failed: a prompt's own error (kModelError: its encoder, or its batch)
//      drops every task of the prompts concerned (queued, or running: their results are ignored)
//      and comes back from wait() as in process, with failed_prompts() naming them (the job loop
//      charges them or retries them alone); any other error ends the job with its code (a reward
//      service out of reach: kUnavailable, exit 75). Between reports the health check runs: a dead
//      process, silence, or no progress for the worker timeout ends the job naming the rank.
//   5. release_all_but()/release_prompt(): broadcast Release, so workers free what no searcher
//      needs. release_prompt() of a prompt with tasks still running (one given up after an error)
//      waits for those batches first, so what they keep is freed too.
//   6. write_shards(): every worker holding some of a checkpoint's states writes them into its own
//      shard file (WriteShard) and answers with its reference (ShardWritten); states never come to
//      the coordinator. decode(), score(): Render requests answered by the worker holding the
//      state. take_frames() (a generation grid): one TakeFrames per worker that ran some of the
//      candidates, answered with the frames it kept from scoring them. All are waited for through
//      the same polling step (ReplyTracker).
//   7. shutdown(): broadcast Shutdown and flush.
#pragma once

#include <chrono>
#include <deque>
#include <list>
#include <map>
#include <set>
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
  std::vector<uint32_t> failed_prompts() const override { return failed_prompts_; }
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
    std::set<uint32_t> dropped;  // prompts given up since it was sent: their results are ignored
    bool holds(uint32_t prompt) const;
  };
  // A prompt's own error (kModelError) that wait() has not returned yet, with the prompts it drops.
  struct Failure {
    Status status;
    std::vector<uint32_t> prompts;
  };
  // A prompt being encoded: the workers that have not answered its AddPrompt yet.
  struct Setup {
    std::list<ReplyTracker::Pending> pending;
    Status error;  // the first encoder error among the answers so far
  };

  Status send(int rank, const proto::WorkerCommand& command);
  Status broadcast(const proto::WorkerCommand& command);
  Status dispatch();
  // One step of every waiting loop: handle the reports that came (then hand out work), else check
  // the workers' health and back off. True when a report came.
  StatusOr<bool> progress(Backoff& backoff);
  Status handle(const proto::WorkerReport& report);
  Status handle_done(int rank, const proto::BatchDone& done);
  Status handle_error(int rank, const proto::WorkerReport& report);
  // Takes the answers to AddPrompt: a prompt every worker has encoded gets its held tasks
  // scheduled; an encoder's error becomes a Failure of that prompt.
  Status check_setups();
  // Gives up every task of `prompt`: queued, held, running (results ignored) or finished and not returned.
  void drop_tasks(uint32_t prompt);
  bool running_tasks_of(uint32_t prompt) const;
  // The worker's Status: its code and message (a prompt's own error word for word, as in process;
  // any other naming the rank).
  Status worker_status(int rank, const proto::WorkerError& error) const;
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
  std::deque<Failure> failures_;                         // model errors not yet returned by wait()
  std::vector<uint32_t> failed_prompts_;                 // the prompts of the failure wait() returned last
  std::map<uint32_t, Setup> setups_;                     // prompts not yet encoded by every worker
  std::map<uint32_t, std::vector<proto::PromptRolloutTask>> held_;  // their tasks, scheduled once they are
  std::map<uint32_t, int> outstanding_;                  // tasks per prompt submitted, not yet returned
  std::map<uint32_t, Clock::time_point> generation_end_; // when a prompt's last result came
  uint64_t next_batch_ = 1;
  uint64_t next_round_ = 1;
  size_t next_import_ = 0;
  TrafficStats traffic_;
  bool shut_down_ = false;
};

}  // namespace evosearch
