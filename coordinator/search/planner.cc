#include "coordinator/search/planner.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace evosearch {
namespace {

int clamp_count(int64_t n) { return static_cast<int>(std::clamp<int64_t>(n, 1, std::numeric_limits<int>::max())); }

// round(f * T) for each fraction, kept strictly increasing, at least `from` and below T.
std::vector<int> steps_at(const std::vector<double>& fractions, int steps, int from) {
  std::vector<int> out;
  for (double f : fractions) {
    const int s = static_cast<int>(std::lround(f * steps));
    if (s >= from && s < steps && (out.empty() || s > out.back())) out.push_back(s);
  }
  return out;
}

// Children per later generation of a look-ahead schedule: as many generations (the first ones)
// as can each afford one child, `rest` split evenly between them, where `per(g, n)` is what one
// child of generation g costs when n generations run. Empty when not even one generation can.
std::vector<int64_t> split_later_generations(int64_t rest, size_t generations,
                                             const std::function<int64_t(size_t, size_t)>& per) {
  std::vector<int64_t> k;
  for (size_t n = generations; n > 0 && k.empty(); --n) {
    for (size_t g = 0; g < n; ++g) k.push_back(std::max<int64_t>(0, rest) / static_cast<int64_t>(n) / per(g, n));
    if (*std::min_element(k.begin(), k.end()) < 1) k.clear();
  }
  return k;
}

}  // namespace

SearchCost best_of_n_cost(int n, int steps) { return SearchCost{int64_t{n} * steps, n, n}; }

SearchCost evosearch_cost(const EvoSearchConfig& c) {
  int64_t rollouts = 0;
  for (int k : c.population) rollouts += k;
  return SearchCost{evosearch_nfe(c), rollouts, rollouts};
}

SearchCost lookahead_cost(const LookaheadConfig& c) {
  SearchCost cost;
  for (size_t g = 0; g < c.evo.population.size(); ++g) {
    const int start = g == 0 ? 0 : c.evo.evolution_steps[g - 1];
    const int end = start + c.lookahead_steps[g];
    // Screening: L steps and the x0 prediction; continuing: the rest, reusing that prediction.
    cost.nfe += int64_t{c.screened[g]} * (c.lookahead_steps[g] + 1) + int64_t{c.evo.population[g]} * (c.evo.steps - end - 1);
    cost.decode_calls += c.screened[g] + c.evo.population[g];
  }
  cost.reward_calls = cost.decode_calls;
  return cost;
}

SearchCost particle_cost(const ParticleConfig& c) {
  // The x0 prediction scored at each resampling step is reused for the next step: k*T NFE.
  const int64_t segments = static_cast<int64_t>(particle_boundaries(c).size()) - 1;
  return SearchCost{int64_t{c.particles} * c.steps, c.particles * segments, c.particles * segments};
}

int plan_best_of_n(const Budget& b, int steps) { return clamp_count(b.amount / (steps * b.step() + b.scoring())); }

int plan_particles(const Budget& b, ParticleConfig base) {
  base.particles = 1;
  return clamp_count(b.amount / std::max<int64_t>(1, b.of(particle_cost(base))));
}

EvoSearchConfig plan_evosearch(const Budget& b, EvoSearchConfig c, const EvoRules& rules) {
  const int T = c.steps;
  const int64_t per_sample = T * b.step() + b.scoring();
  const int64_t samples = b.amount / per_sample;
  const std::vector<int> all_steps = steps_at(rules.evolution_fractions, T, 0);
  // As many evolution steps as the budget affords with two children each; none: Best-of-N.
  for (size_t n = samples < rules.min_samples ? 0 : all_steps.size(); n > 0; --n) {
    c.evolution_steps.assign(all_steps.begin(), all_steps.begin() + static_cast<std::ptrdiff_t>(n));
    int64_t per_child = 0;  // one child in every generation
    for (int s : c.evolution_steps) per_child += (T - s) * b.step() + b.scoring();
    const int64_t k_init = std::max<int64_t>(2, static_cast<int64_t>(rules.initial_share * b.amount) / per_sample);
    const int64_t k = std::max<int64_t>(2, (b.amount - k_init * per_sample) / per_child);
    c.population.assign(n + 1, clamp_count(k));
    c.population[0] = clamp_count(k_init);
    c.elites = std::max(1, c.population[1] / 8);
    while (b.of(evosearch_cost(c)) > b.amount && c.population[0] > 2) --c.population[0];
    if (b.of(evosearch_cost(c)) > b.amount) continue;
    // What is left buys more initial samples.
    c.population[0] = clamp_count(c.population[0] + (b.amount - b.of(evosearch_cost(c))) / per_sample);
    return c;
  }
  c.evolution_steps.clear();
  c.population = {clamp_count(samples)};
  return c;
}

LookaheadConfig plan_lookahead(const Budget& b, EvoSearchConfig base, const LookaheadRules& rules) {
  const int T = base.steps;
  const int64_t s = b.scoring(), step = b.step();
  LookaheadConfig c;
  c.evo = base;
  const int L0 = T <= 1 ? 0 : std::clamp(static_cast<int>(std::lround(rules.lookahead_fraction * T)), 1, T - 1);
  const std::vector<int> later = steps_at(rules.evolution_fractions, T, L0);
  const int64_t screen0 = (L0 + 1) * step + s;
  const int64_t per0 = rules.initial_ratio * screen0 + ((T - L0 - 1) * step + s);
  const int64_t k0 = std::max<int64_t>(1, static_cast<int64_t>(rules.initial_share * b.amount) / per0);
  const int64_t rest = b.amount - k0 * per0;
  // Later generations' look-ahead: up to the next evolution step (before T for the last).
  const int L = static_cast<int>(std::lround(rules.later_lookahead_fraction * T));
  const auto later_steps = [&](size_t g, size_t n) {
    const int next = g + 1 < n ? later[g + 1] : T - 1;
    return std::clamp(L, 0, next - later[g]);
  };
  // As many later generations as can each afford at least one child.
  const std::vector<int64_t> k = split_later_generations(rest, later.size(), [&](size_t g, size_t n) {
    const int Lg = later_steps(g, n);
    return rules.ratio * ((Lg + 1) * step + s) + ((T - later[g] - Lg - 1) * step + s);
  });
  c.evo.evolution_steps.assign(later.begin(), later.begin() + static_cast<std::ptrdiff_t>(k.size()));
  c.evo.population = {clamp_count(k0)};
  c.screened = {clamp_count(rules.initial_ratio * k0)};
  c.lookahead_steps = {L0};
  for (size_t g = 0; g < k.size(); ++g) {
    c.evo.population.push_back(clamp_count(k[g]));
    c.screened.push_back(clamp_count(rules.ratio * k[g]));
    c.lookahead_steps.push_back(later_steps(g, k.size()));
  }
  // An elite needs a second child beside it in every later generation.
  c.evo.elites = k.empty() || *std::min_element(k.begin(), k.end()) >= 2 ? 1 : 0;
  // What is left screens more noises.
  const int64_t left = b.amount - b.of(lookahead_cost(c));
  if (left > 0) c.screened[0] = clamp_count(c.screened[0] + left / screen0);
  return c;
}

namespace {

// The first `kept` evolution generations of a schedule.
EvoSearchConfig evosearch_head(EvoSearchConfig c, size_t kept) {
  c.population.resize(std::min(kept, c.population.size()));
  c.evolution_steps.resize(c.population.size() - 1);
  return c;
}

LookaheadConfig lookahead_head(LookaheadConfig c, size_t kept) {
  c.evo = evosearch_head(c.evo, kept);
  c.screened.resize(c.evo.population.size());
  c.lookahead_steps.resize(c.evo.population.size());
  return c;
}

}  // namespace

SearchCost evosearch_head_cost(const EvoSearchConfig& c, size_t kept) { return evosearch_cost(evosearch_head(c, kept)); }

SearchCost lookahead_head_cost(const LookaheadConfig& c, size_t kept) { return lookahead_cost(lookahead_head(c, kept)); }

EvoSearchConfig plan_evosearch_rest(const Budget& b, EvoSearchConfig planned, size_t kept) {
  const int T = planned.steps;
  EvoSearchConfig c = evosearch_head(planned, kept);
  const std::vector<int> later(planned.evolution_steps.begin() + static_cast<std::ptrdiff_t>(c.evolution_steps.size()),
                               planned.evolution_steps.end());
  const int64_t rest = b.amount - b.of(evosearch_cost(c));
  // As many of the later evolution steps as afford two children each, as plan_evosearch.
  for (size_t n = later.size(); n > 0; --n) {
    int64_t per_child = 0;
    for (size_t g = 0; g < n; ++g) per_child += (T - later[g]) * b.step() + b.scoring();
    const int64_t k = rest / per_child;
    if (k < 2) continue;
    // What is left buys more children in the first later generation.
    const int64_t left = rest - k * per_child;
    for (size_t g = 0; g < n; ++g) {
      c.evolution_steps.push_back(later[g]);
      c.population.push_back(clamp_count(g == 0 ? k + left / ((T - later[0]) * b.step() + b.scoring()) : k));
    }
    break;
  }
  // One elite per 8 children of the smallest generation (fewer than its children).
  const int fewest = c.population.size() > 1 ? *std::min_element(c.population.begin() + 1, c.population.end()) : 2;
  c.elites = fewest >= 2 ? std::max(1, fewest / 8) : 0;
  return c;
}

LookaheadConfig plan_lookahead_rest(const Budget& b, LookaheadConfig planned, size_t kept, const LookaheadRules& rules) {
  const int T = planned.evo.steps;
  const int64_t s = b.scoring(), step = b.step();
  LookaheadConfig c = lookahead_head(planned, kept);
  const size_t from = c.evo.evolution_steps.size();  // the first later generation's evolution step
  const std::vector<int> later(planned.evo.evolution_steps.begin() + static_cast<std::ptrdiff_t>(from),
                               planned.evo.evolution_steps.end());
  const std::vector<int> look(planned.lookahead_steps.begin() + static_cast<std::ptrdiff_t>(from + 1),
                              planned.lookahead_steps.end());
  const int64_t rest = b.amount - b.of(lookahead_cost(c));
  // As many later generations as can each afford one child, the rest split evenly, as plan_lookahead.
  const std::vector<int64_t> k = split_later_generations(rest, later.size(), [&](size_t g, size_t) {
    return rules.ratio * ((look[g] + 1) * step + s) + ((T - later[g] - look[g] - 1) * step + s);
  });
  for (size_t g = 0; g < k.size(); ++g) {
    c.evo.evolution_steps.push_back(later[g]);
    c.evo.population.push_back(clamp_count(k[g]));
    c.screened.push_back(clamp_count(rules.ratio * k[g]));
    c.lookahead_steps.push_back(look[g]);
  }
  // An elite needs a second child beside it in every later generation.
  const int fewest = c.evo.population.size() > 1 ? *std::min_element(c.evo.population.begin() + 1, c.evo.population.end()) : 2;
  c.evo.elites = std::min(c.evo.elites, fewest >= 2 ? 1 : 0);
  // What is left screens more children in the first later generation.
  const int64_t left = b.amount - b.of(lookahead_cost(c));
  if (!k.empty() && left > 0) {
    c.screened[from + 1] = clamp_count(c.screened[from + 1] + left / ((look[0] + 1) * step + s));
  }
  return c;
}

std::string rounding(int64_t requested, int64_t used) {
  return used == requested ? "exact" : used < requested ? "down" : "up";
}

}  // namespace evosearch
