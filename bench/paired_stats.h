// Paired comparisons of two benchmark rows over the same prompts: how many prompts each wins, the
// mean difference, and the exact two-sided Wilcoxon signed-rank test (zero differences dropped,
// tied magnitudes given their mean rank, the null distribution counted exactly over every sign
// pattern). Pure: no tensors, no files.
#pragma once

#include <string>
#include <vector>

namespace evosearch::bench {

struct PairedComparison {
  int n = 0;                     // prompts compared
  int wins = 0, losses = 0;      // a above b, a below b (the rest are ties)
  double mean_difference = 0;    // mean of a - b
  double p_value = 1;            // exact two-sided Wilcoxon signed-rank; 1 when every difference is 0
  int direction = 0;             // +1 when a's rank sum is the larger (a ahead), -1 when b's, 0 when equal
};

// a[i] and b[i] are the two rows' scores on prompt i (same length).
PairedComparison compare_paired(const std::vector<double>& a, const std::vector<double>& b);

// "better", "worse" or "level": a against b by the test's direction, at two-sided level `alpha`.
std::string verdict(const PairedComparison& c, double alpha = 0.05);

}  // namespace evosearch::bench
