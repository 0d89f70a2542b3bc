// The bundle's denoiser as a sampler callback: converts its prediction to x0 and applies
// classifier-free guidance (one batched call on [cond; null], counted as one NFE).
#pragma once

#include <stdexcept>

#include "common/status.h"
#include "worker/bundle.h"
#include "worker/samplers.h"

namespace evosearch {

// Thrown through the sampler when a module call fails; caught by whoever called the sampler.
class ModuleCallError : public std::runtime_error {
 public:
  explicit ModuleCallError(Status status) : std::runtime_error(status.message()), status_(std::move(status)) {}
  const Status& status() const { return status_; }

 private:
  Status status_;
};

// cond: [B, D] conditions; null_cond: [D], the null prompt's condition. scale 1 disables CFG.
// `guard`: where the denoiser's outputs are checked for finite values (at once when null).
DenoiseFn guided_denoiser(Bundle& bundle, const Schedule& schedule, at::Tensor cond, at::Tensor null_cond,
                          double scale, FiniteGuard* guard = nullptr);

}  // namespace evosearch
