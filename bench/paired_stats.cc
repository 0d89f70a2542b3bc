#include "paired_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace evosearch::bench {

PairedComparison compare_paired(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) throw std::invalid_argument("compare_paired: rows of different lengths");
  PairedComparison c;
  c.n = static_cast<int>(a.size());
  std::vector<double> nonzero;  // the differences that carry a sign
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = a[i] - b[i];
    c.mean_difference += d / static_cast<double>(a.size());
    if (d > 0) ++c.wins;
    if (d < 0) ++c.losses;
    if (d != 0) nonzero.push_back(d);
  }
  const size_t m = nonzero.size();
  if (m == 0) return c;
  // Ranks of |d|, doubled so that the mean rank of a tie stays an integer.
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t i, size_t j) { return std::fabs(nonzero[i]) < std::fabs(nonzero[j]); });
  std::vector<int> rank2(m);
  for (size_t lo = 0; lo < m;) {
    size_t hi = lo;
    while (hi + 1 < m && std::fabs(nonzero[order[hi + 1]]) == std::fabs(nonzero[order[lo]])) ++hi;
    for (size_t k = lo; k <= hi; ++k) rank2[order[k]] = static_cast<int>(lo + hi + 2);  // 2 x mean of ranks lo+1..hi+1
    lo = hi + 1;
  }
  int observed = 0, total = 0;
  for (size_t i = 0; i < m; ++i) {
    total += rank2[i];
    if (nonzero[i] > 0) observed += rank2[i];
  }
  // ways[s]: sign patterns whose positive ranks sum to s (doubled), each pattern equally likely.
  std::vector<double> ways(static_cast<size_t>(total) + 1, 0.0);
  ways[0] = 1;
  int reach = 0;
  for (int r : rank2) {
    for (int s = reach; s >= 0; --s) ways[static_cast<size_t>(s + r)] += ways[static_cast<size_t>(s)];
    reach += r;
  }
  const double patterns = std::ldexp(1.0, static_cast<int>(m));
  double at_most = 0, at_least = 0;
  for (int s = 0; s <= total; ++s) {
    if (s <= observed) at_most += ways[static_cast<size_t>(s)];
    if (s >= observed) at_least += ways[static_cast<size_t>(s)];
  }
  c.direction = 2 * observed > total ? 1 : 2 * observed < total ? -1 : 0;
  c.p_value = std::min(1.0, 2 * std::min(at_most, at_least) / patterns);
  return c;
}

std::string verdict(const PairedComparison& c, double alpha) {
  if (c.p_value >= alpha || c.direction == 0) return "level";
  return c.direction > 0 ? "better" : "worse";
}

}  // namespace evosearch::bench
