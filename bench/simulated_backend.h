// A Backend with a simulated denoiser of fixed cost: each rollout step of each sample sleeps
// `step_ms`, states are byte blocks of a chosen size, and fitness is a keyed pseudo-random
// number. For measuring scheduling, scaling and traffic without a model (and without using
// CPU, so 16 simulated GPUs fit on a 2-core machine). Everything it prints says SIMULATED.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "worker/backend.h"
#include "common/state_key.h"

namespace evosearch::bench {

class SimulatedBackend : public Backend {
 public:
  SimulatedBackend(double step_ms, int64_t state_bytes) : step_ms_(step_ms), state_bytes_(state_bytes) {}

  Status add_prompt(uint32_t, const std::string&, uint64_t key) override;
  StatusOr<std::vector<proto::PromptRolloutResult>> run(const std::vector<proto::PromptRolloutTask>& tasks) override;
  void release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) override;
  void release_prompt(uint32_t prompt) override { release_all_but(prompt, {}); }
  StatusOr<std::vector<proto::StoredState>> export_states(uint32_t prompt, const std::vector<proto::StateRef>& refs) override;
  Status import_states(uint32_t prompt, const google::protobuf::RepeatedPtrField<proto::StoredState>& states) override;
  StatusOr<std::vector<Image>> decode(uint32_t prompt, const proto::StateRef& ref) override;
  StatusOr<std::vector<double>> score(uint32_t prompt, const proto::StateRef& ref) override;
  StatusOr<StateBuffer> outgoing(uint32_t prompt, const proto::StateRef& ref, bool with_x0, bool device) override;
  StatusOr<StateBuffer> incoming(bool with_x0, bool device) override;
  Status store_incoming(uint32_t prompt, const proto::StateRef& ref, bool with_x0, const StateBuffer& buffer) override;
  int64_t state_bytes() const override { return state_bytes_; }
  std::string device() const override { return "simulated"; }
  double model_seconds() const override { return model_seconds_.load(); }
  int64_t steps_done() const override { return steps_.load(); }

 private:
  StatusOr<std::string> find(uint32_t prompt, const proto::StateRef& ref) const;

  double step_ms_;
  int64_t state_bytes_;
  mutable std::mutex mutex_;
  std::map<StateKey, std::string> states_;
  std::map<uint32_t, uint64_t> keys_;
  std::atomic<double> model_seconds_{0};
  std::atomic<int64_t> steps_{0};
};

}  // namespace evosearch::bench
