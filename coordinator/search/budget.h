// Compute budgets in NFEs (denoiser calls; a CFG pair counts once).
#pragma once

#include <cstdint>

namespace evosearch {

// The largest population whose full rollouts fit in `nfe_budget` (at least 1): N = budget / T.
// Best-of-N and particle sampling (k particles x T steps) size themselves with it.
int population_for_budget(int64_t nfe_budget, int steps);

}  // namespace evosearch
