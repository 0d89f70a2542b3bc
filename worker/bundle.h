// A model bundle: manifest + condition encoder, denoiser, decoder and reward modules.
// Opening one validates everything with a dry run on a tiny batch, and every later call
// checks its output (shape, dtype, finite values), naming the file that misbehaved. Shapes and
// dtypes are checked at the call; values at once, or, given a FiniteGuard, on the device and read
// with the batch's results (no host synchronisation per call).
//
// The modules run in the bundle's dtype (fp32, bf16 or fp16): inputs are cast to it at each call
// and outputs come back as float32, so everything outside the modules stays float32.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "evosearch/bundle.pb.h"
#include "worker/condition_layout.h"
#include "worker/finite_guard.h"
#include "worker/module_loader.h"

namespace evosearch {

struct BundleOptions {
  // The modules' precision: fp32, bf16 or fp16; empty: the manifest's dtype.
  std::string dtype;
  // Where `dtype` was set, for messages: "model_dtype" (a job spec) or "--dtype".
  std::string dtype_field = "model_dtype";
};

class Bundle {
 public:
  // Loads and dry-runs the bundle in `dir` on `device`.
  static StatusOr<std::unique_ptr<Bundle>> open(const std::string& dir, const at::Device& device,
                                                const BundleOptions& options = {});

  const proto::BundleManifest& manifest() const { return manifest_; }
  const std::string& dir() const { return dir_; }
  at::Device device() const { return device_; }
  // The precision the modules run in: "fp32", "bf16" or "fp16".
  const std::string& dtype() const { return dtype_name_; }
  std::vector<int64_t> latent_shape() const;
  // The named parts of a prompt's condition (version 2), or one vector [condition_dim].
  const ConditionLayout& condition_layout() const { return conditions_layout_; }
  // Pixel shape per sample ([C,H,W] or [C,F,H,W]) as measured by the dry run.
  const std::vector<int64_t>& pixel_shape() const { return pixel_shape_; }

  // [B, condition_dim] conditions for the prompts: version 2's named parts packed into one row
  // each (worker/condition_layout.h).
  StatusOr<at::Tensor> encode(const std::vector<std::string>& prompts);
  // The raw denoiser prediction for x [B, *latent] at model time t [B]. With `guard`, its values
  // are checked there (named with sampler `step`) instead of at once.
  StatusOr<at::Tensor> denoise(const at::Tensor& x, const at::Tensor& t, const at::Tensor& cond,
                               FiniteGuard* guard = nullptr, int64_t step = -1);
  // Pixels in [0, 1], [B, *pixel_shape]; range and values checked in `guard` when given.
  StatusOr<at::Tensor> decode(const at::Tensor& latents, FiniteGuard* guard = nullptr);
  // One score per sample from reward `index` (order of manifest.rewards); checked in `guard` when
  // given. The reward receives the samples' conditions `cond` [B, D] or their prompt `texts` (B of
  // them), whichever its RewardSpec.input declares.
  StatusOr<at::Tensor> score(int index, const at::Tensor& pixels, const at::Tensor& cond,
                             const std::vector<std::string>& texts, FiniteGuard* guard = nullptr);
  // Features for the diversity metric, [B, F]; NotFound when the reward has no features().
  StatusOr<at::Tensor> features(int index, const at::Tensor& pixels);

  int reward_count() const { return manifest_.rewards_size(); }
  int guidance_reward() const;
  // Index of the reward called `name`, or NotFound listing the names there are.
  StatusOr<int> reward_index(const std::string& name) const;

 private:
  Bundle() = default;
  Status load_modules(const ModuleLoader& loader);
  Status dry_run();
  // The output of a call to module `file` as float32 after checking its shape and dtype; its
  // values are checked at once, or recorded in `guard`.
  StatusOr<at::Tensor> checked(const std::string& file, const std::string& what, StatusOr<c10::IValue> result,
                               const std::vector<int64_t>& expected_shape, bool unit_range = false,
                               FiniteGuard* guard = nullptr) const;

  std::string dir_;
  at::Device device_ = at::kCPU;
  at::ScalarType dtype_ = at::kFloat;
  std::string dtype_name_ = "fp32";
  proto::BundleManifest manifest_;
  std::unique_ptr<LoadedModule> encoder_, denoiser_, decoder_;
  std::vector<std::unique_ptr<LoadedModule>> rewards_;
  std::map<std::string, at::Tensor> conditions_;  // from condition_file, when there is no encoder
  ConditionLayout conditions_layout_;              // version 2's named parts, or one vector
  std::vector<int64_t> pixel_shape_;
};

}  // namespace evosearch
