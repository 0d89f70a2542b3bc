// Runs searchers' rollout tasks on tensors: batches tasks of many prompts that share a step
// range, draws their noise by key, applies mutations, keeps the states they ask for in a
// resident store, and scores the results with the guidance reward.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "evosearch/job.pb.h"
#include "evosearch/search.pb.h"
#include "worker/backend.h"
#include "worker/bundle.h"
#include "worker/samplers.h"
#include "worker/state_store.h"

namespace evosearch {

struct ExecutorOptions {
  SamplerConfig sampler;
  double guidance_scale = 1.0;
  int batch_size = 16;  // candidates per denoiser call, across prompts
  uint64_t seed = 0;    // the job seed: keys every noise draw
};

class RolloutExecutor {
 public:
  RolloutExecutor(Bundle& bundle, ExecutorOptions options, Schedule schedule);

  // Encodes a prompt's condition once; tasks name prompts by this index. `key` keys the
  // prompt's noise (prompt_key(text) unless the same text occurs twice in a suite).
  Status add_prompt(uint32_t prompt, const std::string& text, uint64_t key);
  // Runs every task; results come back in task order.
  StatusOr<std::vector<PromptResult>> run(const std::vector<PromptTask>& tasks);

  StateStore& store() { return store_; }
  // The resident states `refs` of a prompt, serialised for a checkpoint.
  StatusOr<std::vector<proto::StoredState>> export_states(uint32_t prompt, const std::vector<proto::StateRef>& refs) const;
  // Makes checkpointed states resident again.
  Status import_states(uint32_t prompt, const google::protobuf::RepeatedPtrField<proto::StoredState>& states);
  // Pixels [1, *pixel_shape] (CPU) of a kept state, decoded on demand.
  StatusOr<at::Tensor> decode_state(uint32_t prompt, const proto::StateRef& ref);
  // Every reward of the bundle for a kept state (manifest order), and evaluator features.
  StatusOr<std::vector<double>> score_state(uint32_t prompt, const proto::StateRef& ref);
  const Schedule& schedule() const { return schedule_; }
  // Seconds spent inside module calls (denoiser, decoder, rewards) so far.
  double model_seconds() const { return model_seconds_.load(); }
  // Denoiser calls made so far (a CFG pair is one).
  int64_t model_calls() const { return model_calls_.load(); }

 private:
  StatusOr<std::vector<PromptResult>> run_batch(const std::vector<const PromptTask*>& batch);
  StatusOr<at::Tensor> start_state(const PromptTask& t);
  const at::Tensor& condition(uint32_t prompt) const { return conditions_.at(prompt); }

  Bundle& bundle_;
  ExecutorOptions options_;
  Schedule schedule_;
  std::vector<double> noise_std_;
  uint64_t seed_;
  at::Tensor null_condition_;
  std::map<uint32_t, at::Tensor> conditions_;
  std::map<uint32_t, uint64_t> prompt_keys_;
  StateStore store_;
  std::atomic<double> model_seconds_{0};  // written by the computing thread only
  std::atomic<int64_t> model_calls_{0};
};

}  // namespace evosearch
