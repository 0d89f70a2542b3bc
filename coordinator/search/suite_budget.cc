#include "coordinator/search/suite_budget.h"

#include <algorithm>
#include <cmath>

namespace evosearch {

int64_t largest_suite_share(int64_t suite_budget, int64_t head_cost, int64_t prompts, const SuiteRules& rules) {
  const double rest = static_cast<double>(std::max<int64_t>(0, suite_budget - prompts * head_cost));
  const double others = static_cast<double>(std::max<int64_t>(0, prompts - 1)) * rules.min_weight;
  return head_cost + static_cast<int64_t>(rest * rules.max_weight / (rules.max_weight + others));
}

std::vector<int64_t> share_suite_budget(int64_t suite_budget, int64_t head_cost,
                                        const std::vector<std::optional<double>>& climb, const SuiteRules& rules) {
  const int64_t prompts = static_cast<int64_t>(climb.size());
  const int64_t rest = std::max<int64_t>(0, suite_budget - prompts * head_cost);
  double mean = 0;
  int64_t ran = 0;
  for (const auto& c : climb) {
    if (!c) continue;
    mean += std::max(0.0, *c);
    ++ran;
  }
  if (ran > 0) mean /= static_cast<double>(ran);
  std::vector<double> weights(climb.size(), 0);
  double total = 0;
  for (size_t p = 0; p < climb.size(); ++p) {
    if (!climb[p]) continue;
    weights[p] = mean > 0 ? std::clamp(std::max(0.0, *climb[p]) / mean, rules.min_weight, rules.max_weight) : 1.0;
    total += weights[p];
  }
  std::vector<int64_t> extra(climb.size(), 0);
  int64_t given = 0;
  for (size_t p = 0; p < climb.size(); ++p) {
    if (!climb[p]) continue;
    extra[p] = static_cast<int64_t>(std::floor(static_cast<double>(rest) * weights[p] / total));
    given += extra[p];
  }
  while (given > rest) {  // floating rounding, never more than a call or two
    --*std::max_element(extra.begin(), extra.end());
    --given;
  }
  std::vector<int64_t> budgets(climb.size(), 0);
  for (size_t p = 0; p < climb.size(); ++p) {
    if (climb[p]) budgets[p] = head_cost + extra[p];
  }
  return budgets;
}

}  // namespace evosearch
