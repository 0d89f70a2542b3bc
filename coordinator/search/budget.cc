#include "coordinator/search/budget.h"

#include <algorithm>

namespace evosearch {

int population_for_budget(int64_t nfe_budget, int steps) {
  return static_cast<int>(std::max<int64_t>(1, nfe_budget / std::max(1, steps)));
}

}  // namespace evosearch
