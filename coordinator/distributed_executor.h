// The coordinator's side of a distributed job (rank 0): an Executor whose rollouts run on
// worker ranks. It schedules ready tasks onto free workers (coordinator/scheduler.h), orders
// the state moves that needs over the data plane, and watches every worker: a worker that
// reports an error, stops answering, or stops making progress for `worker_timeout` seconds
// ends the job with a message naming its rank.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "cluster/mpi_channel.h"
#include "coordinator/executor.h"
#include "coordinator/scheduler.h"
#include "evosearch/cluster.pb.h"

namespace evosearch {

struct DistributedOptions {
  std::vector<int> workers;      // world ranks that run rollouts
  int batch_size = 32;
  double worker_timeout = 300;   // seconds without an answer or progress before a rank counts as hung
};

class DistributedExecutor : public Executor {
 public:
  DistributedExecutor(MpiChannel& channel, DistributedOptions options);
  ~DistributedExecutor() override;

  // Waits for every worker's hello (within the timeout) and checks they agree on the state size.
  Status connect();
  // Tells every worker to stop and waits until the messages are out.
  Status shutdown();

  Status add_prompt(uint32_t prompt, const std::string& text, uint64_t key) override;
  Status import_states(uint32_t prompt, const google::protobuf::RepeatedPtrField<proto::StoredState>& states) override;
  Status submit(const std::vector<PromptTask>& tasks) override;
  StatusOr<std::vector<PromptResult>> wait() override;
  Status release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) override;
  Status release_prompt(uint32_t prompt) override;
  StatusOr<std::vector<proto::StoredState>> export_states(uint32_t prompt, const std::vector<proto::StateRef>& refs) override;
  StatusOr<Image> decode(uint32_t prompt, const proto::StateRef& ref) override;
  StatusOr<std::vector<double>> score(uint32_t prompt, const proto::StateRef& ref) override;
  double model_seconds() const override;
  int workers() const override { return static_cast<int>(options_.workers.size()); }
  TrafficStats traffic() const override { return traffic_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Worker {
    int rank = -1;
    bool busy = false;
    uint64_t batch = 0;
    std::vector<PromptTask> tasks;  // the batch it is running
    Clock::time_point heard;        // last message of any kind
    Clock::time_point progressed;   // last sign of computing
    int64_t steps = -1;
    double model_seconds = 0;
    proto::WorkerHello hello;
  };

  Status send(int rank, const proto::WorkerCommand& command);
  Status broadcast(const proto::WorkerCommand& command);
  Status dispatch();
  // Receives and handles one report if one is waiting; true when it did.
  StatusOr<bool> poll_once();
  Status check_health();
  // One step of every waiting loop: handle a report if one came (then hand out work), else
  // check the workers' health and back off. True when a report came.
  StatusOr<bool> progress(Backoff& backoff);
  Status handle(const proto::WorkerReport& report);
  // Sends a request and polls until `reply` is filled by handle().
  template <typename Reply>
  StatusOr<Reply> request(int rank, const proto::WorkerCommand& command, uint64_t id, std::map<uint64_t, Reply>& replies);
  // Decodes and/or scores a resident state on a worker holding it.
  StatusOr<proto::SampleReply> sample(uint32_t prompt, const proto::StateRef& ref, bool decode, bool score);
  Worker& worker(int rank);
  int holder_of(uint32_t prompt, const proto::StateRef& ref) const;
  std::string describe(int rank) const;

  MpiChannel& channel_;
  DistributedOptions options_;
  std::map<int, Worker> workers_;
  Scheduler scheduler_;
  StatePlacement placement_;
  std::vector<PromptResult> finished_;  // results not yet returned by wait()
  std::map<uint64_t, std::vector<proto::StoredState>> exported_;
  std::map<uint64_t, proto::SampleReply> samples_;
  std::map<uint32_t, std::map<std::tuple<uint32_t, uint32_t, uint32_t>, proto::StoredState>> checkpointed_;
  std::map<uint32_t, int> outstanding_;                   // tasks per prompt submitted, not yet returned
  std::map<uint32_t, Clock::time_point> generation_end_;  // when a prompt's last result came
  uint64_t next_id_ = 1;
  uint64_t next_round_ = 1;
  int next_import_ = 0;
  TrafficStats traffic_;
  bool shut_down_ = false;
};

}  // namespace evosearch
