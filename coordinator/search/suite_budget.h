// A budget for the whole prompt suite (search.suite_model_calls_budget), shared out where it
// helps. Every prompt first runs its first two evolution generations as planned for an even
// share; once every prompt has, what is left of the suite's budget is divided by how much each
// prompt's best reward rose in its second generation (the first that evolves): a prompt still
// climbing gets more, one whose best stopped improving gets less. Each prompt's later
// generations are then planned for its share (planner.h plan_evosearch_rest,
// plan_lookahead_rest). Pure: the shares follow from the stored generations alone, so every
// coordinator, and every resume, computes the same ones.
//
// Why that signal: on fashion-flow's development prompts, how much a prompt's best rose in that
// generation went with how much it rose afterwards (r = 0.27-0.72 over 24 prompt-seeds,
// bench_quality's climb signal lines); the spread of its first rewards did not. With the noise
// formula 2 it holds for evosearch-lookahead (r = 0.46-0.50) and not for EvoSearch (r = -0.39
// and -0.29). Measured, sharing by it does not beat an even split on the bundled models
// (bench/RESULTS.md, "A budget for the whole suite" and "The suite budget on 36 prompts"): level
// or lower for evosearch-lookahead (lower at 50x on 36 held-out prompts), lower for EvoSearch.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace evosearch {

struct SuiteRules {
  // A prompt's weight is its climb over the suite's mean climb, clamped to [min_weight,
  // max_weight]; what is left after the kept generations is divided in proportion.
  double min_weight = 0.25;
  double max_weight = 3;
};

// The evolution generations every prompt runs before the budget is shared out.
constexpr size_t kSuiteKeptGenerations = 2;

// Per prompt, its whole budget in the suite budget's unit (the kept generations included), or 0
// for a prompt that has no climb (`climb[p]` empty: it failed before its kept generations ran).
// `climb[p]`: the rise of prompt p's best reward over its second generation (0 or more).
// `head_cost`: what one prompt's kept generations cost. Every prompt of the suite is charged
// them; when even that exceeds the budget, every prompt gets just that. Without any climb at
// all the rest is split evenly. The shares are rounded down, so they never add up to more than
// the budget (or N times head_cost).
std::vector<int64_t> share_suite_budget(int64_t suite_budget, int64_t head_cost,
                                        const std::vector<std::optional<double>>& climb, const SuiteRules& rules = {});

// The most one prompt's share can be (its weight at max_weight, every other at min_weight), for
// sizing memory before the shares are known.
int64_t largest_suite_share(int64_t suite_budget, int64_t head_cost, int64_t prompts, const SuiteRules& rules = {});

}  // namespace evosearch
