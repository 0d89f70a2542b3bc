// The real Backend: rollouts on a model bundle's tensors, on CPU or CUDA. It batches tasks of
// many prompts that share a step range, draws their noise by key, applies mutations, keeps the
// states they ask for in a resident store, and scores results with the guidance reward.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/thread_owner.h"
#include "worker/backend.h"
#include "worker/bundle.h"
#include "worker/kept_frames.h"
#include "worker/samplers.h"
#include "worker/state_table.h"

namespace evosearch {

struct BackendOptions {
  SamplerConfig sampler;
  double guidance_scale = 1.0;
  int batch_size = 16;  // candidates per denoiser call, across prompts
  // Samples decoded and scored at once (0: the whole batch). Fewer bound the decoded pixels a
  // batch holds (coordinator/memory_estimate.h sizes it to the job's memory limit); answers do not
  // change, since the decoder and rewards score every sample on its own.
  int decode_batch = 0;
  uint64_t seed = 0;    // the job seed: keys every noise draw
  // Generation grids: keep the 8-bit frames of the final samples (end step T, scored as final)
  // that scoring decoded, until take_frames() hands them over (worker/kept_frames.h), so grids
  // need no second decode.
  bool keep_final_frames = false;
  // Asked before every denoiser call: true abandons the batch (Unavailable), so a stop request
  // never waits for a long batch. Compute thread.
  std::function<bool()> should_stop;
};

class TorchBackend final : public Backend {
 public:
  TorchBackend(Bundle& bundle, BackendOptions options, Schedule schedule);

  // RolloutCompute (one thread). LibTorch exceptions of any kind come back as a Status.
  Status add_prompt(uint32_t prompt, const std::string& text, uint64_t key) override;
  StatusOr<std::vector<proto::PromptRolloutResult>> run(const std::vector<proto::PromptRolloutTask>& tasks) override;
  // A state scored just before (below) gives the frames that scoring decoded, once.
  StatusOr<std::vector<Image>> decode(uint32_t prompt, const proto::StateRef& ref) override;
  // Every reward of a resident state. Its frames are kept for the decode that writes it as the
  // prompt's answer, which then decodes nothing (forgotten once taken, or with the prompt's states).
  StatusOr<std::vector<double>> score(uint32_t prompt, const proto::StateRef& ref) override;
  // Every reward of `prompt` for pixels [1, *pixel_shape] already decoded (decode_pixels).
  StatusOr<std::vector<double>> score_pixels(uint32_t prompt, const at::Tensor& pixels);
  // The kept frames of `refs` (keep_final_frames); a state without kept frames is decoded now.
  StatusOr<std::vector<std::vector<Image>>> take_frames(uint32_t prompt, const std::vector<proto::StateRef>& refs) override;
  // Pixels [1, *pixel_shape] on the CPU of a resident state (compute thread).
  StatusOr<at::Tensor> decode_pixels(uint32_t prompt, const proto::StateRef& ref);

  // ResidentStates (any thread).
  void release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) override;
  void release_prompt(uint32_t prompt) override;
  StatusOr<std::vector<proto::StoredState>> export_states(uint32_t prompt, const std::vector<proto::StateRef>& refs) override;
  Status import_states(uint32_t prompt, const google::protobuf::RepeatedPtrField<proto::StoredState>& states) override;
  StatusOr<StateBuffer> outgoing(uint32_t prompt, const proto::StateRef& ref, bool with_x0, bool device) override;
  StatusOr<StateBuffer> incoming(bool with_x0, bool device) override;
  Status store_incoming(uint32_t prompt, const proto::StateRef& ref, bool with_x0, const StateBuffer& buffer) override;

  int64_t state_bytes() const override;
  std::string device() const override { return bundle_.device().str(); }
  double model_seconds() const override;
  int64_t steps_done() const override { return model_calls_.load(); }
  proto::PhaseSeconds model_phases() const override;

  const Schedule& schedule() const { return schedule_; }
  size_t resident_states() const { return store_.size(); }
  // Samples the decoder has decoded so far (each sample of a batch counts), and frames kept.
  int64_t samples_decoded() const { return samples_decoded_.load(); }
  size_t kept_frames() const { return kept_frames_.size(); }
  size_t scored_frames() const { return scored_frames_.size(); }

 private:
  StatusOr<std::vector<proto::PromptRolloutResult>> run_batch(const std::vector<const proto::PromptRolloutTask*>& batch);
  StatusOr<at::Tensor> start_state(const proto::PromptRolloutTask& t);
  // The guidance reward of every sample of `latents` [B, *latent], decode_batch samples at a time,
  // as float64 on the CPU: one host read, which also reads (and empties) `guard`. With `frames`,
  // each sample's decoded frames are appended there too (after that read).
  StatusOr<at::Tensor> guidance_fitness(const at::Tensor& latents, const at::Tensor& cond,
                                        const std::vector<std::string>& texts, FiniteGuard& guard,
                                        std::vector<std::vector<Image>>* frames = nullptr);
  Status check_prompt(uint32_t prompt) const;

  // Set at construction, then read-only (any thread).
  Bundle& bundle_;
  const BackendOptions options_;
  const Schedule schedule_;
  const std::vector<double> noise_std_;
  // Compute thread only (guarded by compute_thread_'s check in every RolloutCompute method).
  ThreadOwner compute_thread_{"TorchBackend's compute side (add_prompt, run, decode, score)"};
  at::Tensor null_condition_;
  std::map<uint32_t, at::Tensor> conditions_;
  std::map<uint32_t, uint64_t> prompt_keys_;
  std::map<uint32_t, std::string> prompt_texts_;  // for rewards whose input is PROMPT_TEXT
  // Any thread: the store locks itself; the counters are written by the compute thread only.
  StateTable store_;
  KeptFrames kept_frames_;    // locks itself
  KeptFrames scored_frames_;  // score()'s frames for the answer's decode; locks itself
  std::atomic<double> encode_seconds_{0}, denoise_seconds_{0}, decode_seconds_{0}, score_seconds_{0};
  std::atomic<int64_t> model_calls_{0};
  std::atomic<int64_t> samples_decoded_{0};
};

}  // namespace evosearch
