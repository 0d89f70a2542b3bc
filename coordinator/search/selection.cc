#include "coordinator/search/selection.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace evosearch {

std::vector<size_t> top_indices(const std::vector<double>& fitness, size_t count) {
  std::vector<size_t> order(fitness.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return fitness[a] > fitness[b]; });
  order.resize(std::min(count, order.size()));
  return order;
}

size_t tournament(const std::vector<double>& fitness, double fraction, const NoiseKey& key) {
  const size_t n = fitness.size();
  const size_t draws = std::clamp<size_t>(static_cast<size_t>(std::lround(fraction * n)), 1, n);
  std::vector<double> u(draws);
  fill_uniform(key, u.data(), draws);
  // Partial Fisher-Yates: the first `draws` slots become a uniform sample without replacement.
  std::vector<size_t> slots(n);
  std::iota(slots.begin(), slots.end(), 0);
  size_t best = n;
  for (size_t i = 0; i < draws; ++i) {
    const size_t j = i + std::min(n - i - 1, static_cast<size_t>(u[i] * (n - i)));
    std::swap(slots[i], slots[j]);
    const size_t c = slots[i];
    if (best == n || fitness[c] > fitness[best] || (fitness[c] == fitness[best] && c < best)) best = c;
  }
  return best;
}

std::vector<double> normalized_weights(const std::vector<double>& log_weights) {
  if (log_weights.empty()) return {};
  const double top = *std::max_element(log_weights.begin(), log_weights.end());
  std::vector<double> w(log_weights.size());
  double sum = 0;
  for (size_t i = 0; i < w.size(); ++i) sum += w[i] = std::exp(log_weights[i] - top);
  for (double& v : w) v /= sum;
  return w;
}

std::vector<size_t> multinomial_resample(const std::vector<double>& log_weights, size_t count, const NoiseKey& key) {
  const std::vector<double> w = normalized_weights(log_weights);
  std::vector<double> cumulative(w.size());
  std::partial_sum(w.begin(), w.end(), cumulative.begin());
  std::vector<double> u(count);
  fill_uniform(key, u.data(), count);
  std::vector<size_t> out(count);
  for (size_t i = 0; i < count; ++i) {
    const auto it = std::upper_bound(cumulative.begin(), cumulative.end(), u[i] * cumulative.back());
    out[i] = std::min<size_t>(it - cumulative.begin(), w.size() - 1);
  }
  return out;
}

double effective_sample_size(const std::vector<double>& log_weights) {
  const std::vector<double> w = normalized_weights(log_weights);
  double sq = 0;
  for (double v : w) sq += v * v;
  return sq > 0 ? 1.0 / sq : 0.0;
}

}  // namespace evosearch
