// Finite checks of module outputs without a host synchronisation per call. Each check runs on
// the device and leaves its flags there, named on the host (module file, output, sampler step);
// the flags are read all at once where the host needs values anyway (a batch's scores), and the
// first check that failed, in call order, is the error: the module and step that made the NaN,
// not the later ones it spread to.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "worker/torch_compat.h"

namespace evosearch {

class FiniteGuard {
 public:
  // Records the check of `t` (float32): every value finite and, with `unit_range`, in [0, 1].
  // A failure reads `where` + `what` + the reason ("dir/denoiser.pt: " "denoiser output at
  // sampler step 3" " contains NaN or infinite values").
  void record(const at::Tensor& t, std::string where, std::string what, bool unit_range);

  // The values of `t` on the CPU as float64, read in one transfer with every pending check; the
  // first failed check instead, when one failed. Clears the pending checks either way.
  StatusOr<at::Tensor> read(const at::Tensor& t);
  // The pending checks alone (one transfer when there are any).
  Status check();

  size_t pending() const { return checks_.size(); }

 private:
  struct Check {
    std::string where, what;
    bool unit_range = false;
  };
  std::vector<Check> checks_;
  // Per check, on the module's device: [all finite] or [all finite, min, max], float32.
  std::vector<at::Tensor> flags_;
};

// One check, read at once (loading, dry runs, single-state decodes): one host read.
Status check_finite_now(const at::Tensor& t, std::string where, std::string what, bool unit_range);

}  // namespace evosearch
