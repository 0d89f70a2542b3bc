// The embedded default: the job's rollouts run in this process, on the job loop's thread, on one
// Backend. wait() runs everything submitted since the last wait() as one call, so tasks of
// different prompts that share a step range are batched together.
#pragma once

#include <vector>

#include "coordinator/executor.h"
#include "worker/backend.h"

namespace evosearch {

class LocalExecutor final : public Executor {
 public:
  explicit LocalExecutor(Backend& backend) : backend_(backend) {}

  Status add_prompt(uint32_t prompt, const std::string& text, uint64_t key) override {
    return backend_.add_prompt(prompt, text, key);
  }
  Status submit(const std::vector<proto::PromptRolloutTask>& tasks) override;
  StatusOr<std::vector<proto::PromptRolloutResult>> wait() override;
  std::vector<uint32_t> failed_prompts() const override { return failed_prompts_; }
  Status release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) override {
    backend_.release_all_but(prompt, live);
    return Status::Ok();
  }
  Status release_prompt(uint32_t prompt) override {
    backend_.release_prompt(prompt);
    return Status::Ok();
  }
  StatusOr<std::vector<proto::ShardRef>> write_shards(uint32_t prompt, const std::vector<proto::StateRef>& refs,
                                                      const ShardTarget& target) override;
  Status load_shards(uint32_t prompt, const std::string& output_dir,
                     const google::protobuf::RepeatedPtrField<proto::ShardRef>& shards) override;
  StatusOr<std::vector<Image>> decode(uint32_t prompt, const proto::StateRef& ref) override {
    return backend_.decode(prompt, ref);
  }
  StatusOr<std::vector<std::vector<Image>>> take_frames(uint32_t prompt, const std::vector<proto::StateRef>& refs) override {
    return backend_.take_frames(prompt, refs);
  }
  StatusOr<std::vector<double>> score(uint32_t prompt, const proto::StateRef& ref) override {
    return backend_.score(prompt, ref);
  }
  double model_seconds() const override { return backend_.model_seconds(); }
  proto::PhaseSeconds model_phases() const override { return backend_.model_phases(); }
  TrafficStats traffic() const override { return traffic_; }

 private:
  Backend& backend_;
  std::vector<proto::PromptRolloutTask> pending_;  // submitted, not yet run
  std::vector<uint32_t> failed_prompts_;           // the prompts of the last wait() that failed
  TrafficStats traffic_;
};

}  // namespace evosearch
