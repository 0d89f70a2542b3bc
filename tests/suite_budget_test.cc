// A budget for the whole suite: the shares (coordinator/search/suite_budget.h), the per-prompt
// plans that keep the first two evolution generations as they ran (planner.h), and the planned spec.
#include <gtest/gtest.h>

#include <numeric>
#include <optional>
#include <vector>

#include "coordinator/job_spec.h"
#include "coordinator/search/planner.h"
#include "coordinator/search/suite_budget.h"

namespace evosearch {
namespace {

using Climbs = std::vector<std::optional<double>>;

int64_t sum(const std::vector<int64_t>& v) { return std::accumulate(v.begin(), v.end(), int64_t{0}); }

TEST(SuiteBudget, SharesFollowHowMuchEachPromptStillClimbed) {
  // Climbs 0, 0.5 and 1 (mean 0.5): weights 0.25 (the floor: it stopped improving), 1 and 2; the
  // fourth prompt failed before its kept generations. Rest: 1000 - 4 x 100 = 600, split 0.25 : 1 : 2.
  const Climbs climb{0.0, 0.5, 1.0, std::nullopt};
  const std::vector<int64_t> shares = share_suite_budget(1000, 100, climb);
  EXPECT_EQ(shares, (std::vector<int64_t>{100 + 46, 100 + 184, 100 + 369, 0}));
  EXPECT_LE(sum(shares), 1000);
}

TEST(SuiteBudget, EqualClimbsSplitEvenlyAndWeightsAreClamped) {
  EXPECT_EQ(share_suite_budget(900, 100, Climbs{0.5, 0.5, 0.5}), (std::vector<int64_t>{300, 300, 300}));
  // No prompt climbed at all: even too.
  EXPECT_EQ(share_suite_budget(500, 50, Climbs{0.0, 0.0}), (std::vector<int64_t>{250, 250}));
  // One prompt's climb dwarfs the others: its weight stops at max_weight.
  SuiteRules rules;
  rules.max_weight = 2;
  const std::vector<int64_t> shares = share_suite_budget(1400, 100, Climbs{100.0, 1.0, 1.0, 1.0}, rules);
  // Mean climb 103 / 4 = 25.75: weights 2, then 0.25 (floor) for the rest.
  EXPECT_EQ(shares[0], 100 + static_cast<int64_t>(1000 * 2 / 2.75));
  EXPECT_EQ(shares[1], shares[3]);
  EXPECT_LE(sum(shares), 1400);
  // That is the most any prompt can get, what the memory check sizes a prompt at.
  EXPECT_EQ(shares[0], largest_suite_share(1400, 100, 4, rules));
}

TEST(SuiteBudget, ABudgetBelowTheKeptGenerationsGivesEachJustThose) {
  EXPECT_EQ(share_suite_budget(150, 100, Climbs{0.2, 0.7}), (std::vector<int64_t>{100, 100}));
}

TEST(SuiteBudget, LaterGenerationsArePlannedForTheShareWithTheKeptOnesAsTheyRan) {
  const Budget even{true, 1280};
  EvoSearchConfig base;
  base.steps = 30;
  const EvoSearchConfig planned = plan_evosearch(even, base);
  ASSERT_EQ(planned.evolution_steps.size(), 4u);
  const int64_t head = even.of(evosearch_head_cost(planned, 2));
  EXPECT_EQ(head, int64_t{planned.population[0]} * 32 + int64_t{planned.population[1]} * (30 - planned.evolution_steps[0] + 2));
  for (const int64_t amount : {head, head + 100, int64_t{1280}, int64_t{3000}, int64_t{9000}}) {
    const Budget share{true, amount};
    const EvoSearchConfig c = plan_evosearch_rest(share, planned, 2);
    EXPECT_TRUE(validate(c).ok()) << amount << ": " << validate(c).to_string();
    ASSERT_GE(c.population.size(), 2u);
    EXPECT_EQ(c.population[0], planned.population[0]) << amount;
    EXPECT_EQ(c.population[1], planned.population[1]) << amount;
    EXPECT_LE(share.of(evosearch_cost(c)), amount) << amount;
    EXPECT_LE(c.evolution_steps.size(), planned.evolution_steps.size());
    for (size_t g = 0; g < c.evolution_steps.size(); ++g) EXPECT_EQ(c.evolution_steps[g], planned.evolution_steps[g]);
    if (amount == head) {
      EXPECT_EQ(c.evolution_steps.size(), 1u);  // the kept generations alone
    }
    if (amount >= 3000) {
      EXPECT_EQ(c.evolution_steps, planned.evolution_steps);
    }
    if (amount == 9000) {
      EXPECT_GT(c.population[2], 3 * planned.population[2]);
    }
  }

  const LookaheadConfig look = plan_lookahead(even, base);
  ASSERT_EQ(look.evo.evolution_steps.size(), 3u);
  const int64_t look_head = even.of(lookahead_head_cost(look, 2));
  for (const int64_t amount : {look_head, int64_t{1280}, int64_t{4000}}) {
    const Budget share{true, amount};
    const LookaheadConfig c = plan_lookahead_rest(share, look, 2);
    EXPECT_TRUE(validate(c).ok()) << amount << ": " << validate(c).to_string();
    for (size_t g = 0; g < 2; ++g) {
      EXPECT_EQ(c.evo.population[g], look.evo.population[g]) << amount;
      EXPECT_EQ(c.screened[g], look.screened[g]) << amount;
      EXPECT_EQ(c.lookahead_steps[g], look.lookahead_steps[g]) << amount;
    }
    EXPECT_LE(share.of(lookahead_cost(c)), amount) << amount;
    if (amount == look_head) {
      EXPECT_EQ(c.evo.evolution_steps.size(), 1u);
    }
    if (amount == 4000) {
      EXPECT_GT(c.evo.population[2], look.evo.population[2]);
    }
  }
}

TEST(SuiteBudget, TheSpecIsPlannedAsAnEvenShare) {
  proto::SearchSpec s;
  s.set_method("evosearch-lookahead");
  s.set_suite_model_calls_budget(6400);
  EXPECT_FALSE(plan_search(s, 30).ok());  // the prompt count is needed
  ASSERT_TRUE(plan_search(s, 30, 5).ok());
  EXPECT_EQ(s.plan().budget(), "suite_model_calls_budget");
  EXPECT_EQ(s.plan().requested(), 1280);
  EXPECT_EQ(s.plan().suite_budget(), 6400);
  EXPECT_EQ(s.plan().suite_prompts(), 5u);
  EXPECT_NE(s.plan().summary().find("suite_model_calls_budget 6400 over 5 prompts"), std::string::npos);
  EXPECT_EQ(suite_barrier(s), 4u);
  auto head = suite_head_cost(s, 30);
  ASSERT_TRUE(head.ok());
  auto planned = lookahead_config(s, 30);
  ASSERT_TRUE(planned.ok());
  EXPECT_EQ(*head, lookahead_head_cost(*planned, 2).model_calls());
  auto searcher = make_suite_searcher(s, 30, SearchKey{1, 2}, 3000);
  ASSERT_TRUE(searcher.ok()) << searcher.status().to_string();
  EXPECT_EQ((*searcher)->method(), "evosearch-lookahead");

  // Too little for two evolution generations and a later one.
  proto::SearchSpec small;
  small.set_method("evosearch");
  small.set_suite_model_calls_budget(300);
  const Status refused = plan_search(small, 30, 5);
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("suite_model_calls_budget"), std::string::npos) << refused.message();
}

}  // namespace
}  // namespace evosearch
