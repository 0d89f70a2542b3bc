// The real Backend: a RolloutExecutor on a model bundle (CPU or CUDA).
#pragma once

#include <memory>

#include "worker/backend.h"
#include "worker/rollout_executor.h"

namespace evosearch {

class TorchBackend : public Backend {
 public:
  TorchBackend(Bundle& bundle, ExecutorOptions options, Schedule schedule);

  Status add_prompt(uint32_t prompt, const std::string& text, uint64_t key) override;
  StatusOr<std::vector<PromptResult>> run(const std::vector<PromptTask>& tasks) override;
  void release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) override;
  void release_prompt(uint32_t prompt) override;
  StatusOr<std::vector<proto::StoredState>> export_states(uint32_t prompt, const std::vector<proto::StateRef>& refs) override;
  Status import_states(uint32_t prompt, const google::protobuf::RepeatedPtrField<proto::StoredState>& states) override;
  StatusOr<Image> decode(uint32_t prompt, const proto::StateRef& ref) override;
  StatusOr<std::vector<double>> score(uint32_t prompt, const proto::StateRef& ref) override;
  StatusOr<StateBuffer> outgoing(uint32_t prompt, const proto::StateRef& ref, bool with_x0, bool device) override;
  StateBuffer incoming(bool with_x0, bool device) override;
  Status store_incoming(uint32_t prompt, const proto::StateRef& ref, bool with_x0, const StateBuffer& buffer) override;
  int64_t state_bytes() const override;
  std::string device() const override;
  double model_seconds() const override { return executor_.model_seconds(); }
  int64_t steps_done() const override { return executor_.model_calls(); }

  RolloutExecutor& executor() { return executor_; }

 private:
  Bundle& bundle_;
  RolloutExecutor executor_;
};

}  // namespace evosearch
