// The planner: a search sized from a budget. Given a per-prompt budget in NFEs or in model
// calls (denoiser + decoder + reward) and the sampler's step count, it chooses the largest
// schedule of a method that fits, by fixed rules (below, measured on examples/fashion-dev.txt;
// bench/RESULTS.md). Pure: no files, no tensors.
//
// Costs are counted as the torch backend counts them: a rollout from step a to b costs b - a
// NFE (one more when it scores the x0 prediction at b; one fewer when it starts from a state
// whose x0 prediction is known and unmutated), one decoder and one reward call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "coordinator/search/evo_searcher.h"
#include "coordinator/search/lookahead_searcher.h"
#include "coordinator/search/particle_searcher.h"

namespace evosearch {

struct SearchCost {
  int64_t nfe = 0;
  int64_t decode_calls = 0;
  int64_t reward_calls = 0;
  int64_t model_calls() const { return nfe + decode_calls + reward_calls; }
};

SearchCost best_of_n_cost(int n, int steps);
SearchCost evosearch_cost(const EvoSearchConfig& config);
SearchCost lookahead_cost(const LookaheadConfig& config);
SearchCost particle_cost(const ParticleConfig& config);

// A budget per prompt: in NFE, in model calls, or (per_nfe > 0) weighted, each call kind costing
// its own amount (model_seconds_budget: microseconds measured on the device).
struct Budget {
  bool model_calls = false;  // false: NFE (unless weighted)
  int64_t amount = 0;
  int64_t per_nfe = 0, per_decode = 0, per_reward = 0;  // weighted when per_nfe > 0
  bool weighted() const { return per_nfe > 0; }
  // What one denoising step of one candidate costs, and one scored rollout's decode and reward.
  int64_t step() const { return weighted() ? per_nfe : 1; }
  int64_t scoring() const { return weighted() ? per_decode + per_reward : model_calls ? 2 : 0; }
  int64_t of(const SearchCost& cost) const {
    if (weighted()) return per_nfe * cost.nfe + per_decode * cost.decode_calls + per_reward * cost.reward_calls;
    return model_calls ? cost.model_calls() : cost.nfe;
  }
};

// EvoSearch rules, after the paper's findings (a large initial population matters most;
// evolution over the early and middle trajectory): below `min_samples` samples' worth of
// budget, no evolution (K = [N], which is Best-of-N); otherwise S at these fractions of T,
// `initial_share` of the budget for k_init, the rest split evenly over the generations, one
// elite per 8 children, and what is left over added to k_init.
struct EvoRules {
  double min_samples = 8;
  std::vector<double> evolution_fractions = {0, 0.2, 0.4, 0.6};
  double initial_share = 0.4;
};

// evosearch-lookahead rules: generation 0 screens `initial_ratio` noises per child it rolls
// out, each after `lookahead_fraction` of T; later generations start at `evolution_fractions`
// of T and screen `ratio` children per child after `later_lookahead_fraction` of T (at most up
// to the next evolution step; 0: on the x0 prediction at the evolution step itself).
// `initial_share` of the budget goes to generation 0, the rest evenly to the others (a
// generation that cannot afford one child is dropped); what is left over screens more noises.
struct LookaheadRules {
  double initial_share = 0.4;
  int initial_ratio = 4;
  double lookahead_fraction = 0.3;
  std::vector<double> evolution_fractions = {0.4, 0.6, 0.8};
  int ratio = 3;
  double later_lookahead_fraction = 0;
};

// The schedules (at least the smallest one when the budget is below it). `base` carries the
// fields not planned (steps, tournament_fraction, beta; particle knobs).
EvoSearchConfig plan_evosearch(const Budget& budget, EvoSearchConfig base, const EvoRules& rules = {});
LookaheadConfig plan_lookahead(const Budget& budget, EvoSearchConfig base, const LookaheadRules& rules = {});
int plan_best_of_n(const Budget& budget, int steps);
int plan_particles(const Budget& budget, ParticleConfig base);

// A suite budget's per-prompt plans (coordinator/search/suite_budget.h). The first `kept`
// evolution generations of `planned` have run already and stay as they are; the later ones are
// planned to fit `budget` in all (the kept ones included), at the planner's proportions, over at
// most `planned`'s later evolution steps (the kept generations archived states only there).
// When no later generation fits, the search is the kept generations alone.
EvoSearchConfig plan_evosearch_rest(const Budget& budget, EvoSearchConfig planned, size_t kept);
LookaheadConfig plan_lookahead_rest(const Budget& budget, LookaheadConfig planned, size_t kept,
                                    const LookaheadRules& rules = {});
// What the first `kept` evolution generations of a schedule cost (for evosearch-lookahead each
// with its screening).
SearchCost evosearch_head_cost(const EvoSearchConfig& config, size_t kept);
SearchCost lookahead_head_cost(const LookaheadConfig& config, size_t kept);

// "exact", "down" or "up": how `used` compares with `requested`.
std::string rounding(int64_t requested, int64_t used);

}  // namespace evosearch
