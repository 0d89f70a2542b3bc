#include "coordinator/search/budget.h"

#include <algorithm>
#include <limits>

namespace evosearch {

int population_for_budget(int64_t nfe_budget, int steps) {
  // Clamped to int: a budget too large for that is refused later by the memory estimate.
  const int64_t n = std::max<int64_t>(1, nfe_budget / std::max(1, steps));
  return static_cast<int>(std::min<int64_t>(n, std::numeric_limits<int>::max()));
}

}  // namespace evosearch
