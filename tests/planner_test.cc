// The planner: costs as the backend counts them, schedules that fit a budget, and specs filled in.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <tuple>

#include "coordinator/job_spec.h"
#include "coordinator/search/planner.h"
#include "coordinator/yaml_to_json.h"
#include "skip_or_fail.h"

namespace evosearch {
namespace {

TEST(Planner, CostsCountEveryModelCall) {
  EvoSearchConfig sd21;
  sd21.steps = 50;
  sd21.evolution_steps = {0, 20, 30, 40};
  sd21.population = {42, 26, 26, 26, 30};
  const SearchCost evo = evosearch_cost(sd21);
  EXPECT_EQ(evo.nfe, 5000);
  EXPECT_EQ(evo.reward_calls, 150);
  EXPECT_EQ(evo.model_calls(), 5300);
  EXPECT_EQ(best_of_n_cost(5, 30).model_calls(), 5 * 32);
  ParticleConfig p;
  p.steps = 30;
  p.particles = 5;  // resampling at 5, 10, ..., 25: six segments, each scored
  EXPECT_EQ(particle_cost(p).nfe, 150);
  EXPECT_EQ(particle_cost(p).model_calls(), 150 + 2 * 5 * 6);  // bench/RESULTS.md's 5x row: 210
  LookaheadConfig l;
  l.evo.steps = 30;
  l.evo.evolution_steps = {12};
  l.evo.population = {4, 3};
  l.screened = {12, 9};
  l.lookahead_steps = {6, 0};
  // Screening: 12 x (6 + 1) and 9 x 1; continuing: 4 x (30 - 6 - 1) and 3 x (30 - 12 - 1).
  EXPECT_EQ(lookahead_cost(l).nfe, 84 + 9 + 92 + 51);
  EXPECT_EQ(lookahead_cost(l).decode_calls, 12 + 9 + 4 + 3);
}

TEST(Planner, SchedulesFitTheBudgetAndAreValid) {
  for (int steps : {30, 50}) {
    for (bool calls : {false, true}) {
      const int64_t sample = steps + (calls ? 2 : 0);
      for (int64_t multiple : {2, 5, 8, 10, 20, 50, 100, 300}) {
        const Budget b{calls, multiple * sample + 7};
        EvoSearchConfig base;
        base.steps = steps;
        for (double min_samples : {2.0, 8.0}) {
          EvoRules rules;
          rules.min_samples = min_samples;
          const EvoSearchConfig evo = plan_evosearch(b, base, rules);
          EXPECT_TRUE(validate(evo).ok()) << validate(evo).to_string();
          EXPECT_LE(b.of(evosearch_cost(evo)), b.amount) << multiple << "x";
          EXPECT_GT(b.of(evosearch_cost(evo)), b.amount - sample);  // nothing a sample could use is left
        }
        for (double later_lookahead : {0.0, 0.1, 0.3}) {
          LookaheadRules rules;
          rules.later_lookahead_fraction = later_lookahead;
          const LookaheadConfig look = plan_lookahead(b, base, rules);
          EXPECT_TRUE(validate(look).ok()) << validate(look).to_string() << " at " << multiple << "x";
          if (multiple >= 5) {
            EXPECT_LE(b.of(lookahead_cost(look)), b.amount) << multiple << "x";
          }
          // Later generations look ahead as asked, up to the next evolution step.
          for (size_t g = 1; g < look.lookahead_steps.size(); ++g) {
            const int start = look.evo.evolution_steps[g - 1];
            const int next = g < look.evo.evolution_steps.size() ? look.evo.evolution_steps[g] : steps - 1;
            EXPECT_EQ(look.lookahead_steps[g], std::min<int>(std::lround(later_lookahead * steps), next - start));
          }
        }
        EXPECT_EQ(b.of(best_of_n_cost(plan_best_of_n(b, steps), steps)), multiple * sample);
        ParticleConfig p;
        p.steps = steps;
        p.particles = plan_particles(b, p);
        EXPECT_LE(b.of(particle_cost(p)), b.amount);
      }
    }
  }
}

// A budget in measured time: each call kind weighs what it costs (microseconds here).
TEST(Planner, WeightedBudgetsChargeEachCallKindItsCost) {
  for (int steps : {20, 50}) {
    for (const auto& [nfe, decode, reward] : {std::tuple<int64_t, int64_t, int64_t>{1000, 0, 0}, {1000, 5000, 2000},
                                              {400, 40000, 9000}, {250000, 30000, 1000}}) {
      Budget b;
      b.per_nfe = nfe;
      b.per_decode = decode;
      b.per_reward = reward;
      const int64_t sample = steps * nfe + decode + reward;  // one full rollout, decoded and scored
      for (int64_t multiple : {5, 20, 50}) {
        b.amount = multiple * sample + 7;
        EvoSearchConfig base;
        base.steps = steps;
        const EvoSearchConfig evo = plan_evosearch(b, base);
        EXPECT_TRUE(validate(evo).ok()) << validate(evo).to_string();
        const SearchCost cost = evosearch_cost(evo);
        EXPECT_EQ(b.of(cost), nfe * cost.nfe + decode * cost.decode_calls + reward * cost.reward_calls);
        EXPECT_LE(b.of(cost), b.amount) << multiple << "x";
        EXPECT_GT(b.of(cost), b.amount - sample);
        EXPECT_EQ(plan_best_of_n(b, steps), multiple);
        const LookaheadConfig look = plan_lookahead(b, base);
        EXPECT_TRUE(validate(look).ok()) << validate(look).to_string();
        EXPECT_LE(b.of(lookahead_cost(look)), b.amount) << multiple << "x, " << decode << " per decode";
        ParticleConfig p;
        p.steps = steps;
        p.particles = plan_particles(b, p);
        // Particles score at every resampling step: one may cost more than the budget (rounded up).
        if (p.particles > 1) {
          EXPECT_LE(b.of(particle_cost(p)), b.amount);
        }
        p.particles += 1;
        EXPECT_GT(b.of(particle_cost(p)), b.amount);  // one more would not fit
      }
    }
  }
  // Free scoring plans as an NFE budget does; costly scoring buys fewer of the methods that score
  // often (evosearch-lookahead screens on decoded x0 predictions).
  EvoSearchConfig base;
  base.steps = 30;
  Budget free_scoring{false, 0, 1000, 0, 0};
  free_scoring.amount = 1000 * 3000;
  EXPECT_EQ(plan_evosearch(free_scoring, base).population, plan_evosearch(Budget{false, 3000}, base).population);
  Budget costly = free_scoring;
  costly.per_decode = 20000;
  const LookaheadConfig cheap = plan_lookahead(free_scoring, base), dear = plan_lookahead(costly, base);
  EXPECT_LT(lookahead_cost(dear).decode_calls, lookahead_cost(cheap).decode_calls);
}

TEST(Planner, EvoSearchFollowsThePapersFindings) {
  EvoSearchConfig base;
  base.steps = 50;
  // Too small for selection to pay: all of it is the initial population (Best-of-N).
  const EvoSearchConfig small = plan_evosearch(Budget{false, 250}, base);
  EXPECT_TRUE(small.evolution_steps.empty());
  EXPECT_EQ(small.population, std::vector<int>{5});
  // Larger: the initial population is the largest, evolution over the early and middle steps.
  const EvoSearchConfig large = plan_evosearch(Budget{false, 5000}, base);
  ASSERT_GE(large.evolution_steps.size(), 2u);
  EXPECT_EQ(large.evolution_steps.front(), 0);
  EXPECT_LE(large.evolution_steps.back(), 35);
  for (size_t g = 1; g < large.population.size(); ++g) EXPECT_GT(large.population[0], large.population[g]);
}

TEST(Planner, SmallestSearchRoundsUp) {
  const Budget b{false, 10};
  EXPECT_EQ(plan_best_of_n(b, 30), 1);
  EXPECT_EQ(rounding(10, 30), "up");
  EXPECT_EQ(rounding(3840, 3800), "down");
  EXPECT_EQ(rounding(150, 150), "exact");
}

TEST(Planner, BudgetOnlySpecsAreFilledInAndRecorded) {
  proto::SearchSpec s;
  s.set_method("evosearch");
  s.set_nfe_budget(600);
  ASSERT_TRUE(needs_plan(s));
  ASSERT_TRUE(plan_search(s, 30).ok());
  EXPECT_FALSE(needs_plan(s));
  EXPECT_GT(s.population_size(), 1);
  EXPECT_TRUE(s.has_elites());
  EXPECT_EQ(s.plan().budget(), "nfe_budget");
  EXPECT_EQ(s.plan().requested(), 600);
  EXPECT_LE(s.plan().used(), 600);
  EXPECT_EQ(s.plan().rounded(), s.plan().used() == 600 ? "exact" : "down");
  EXPECT_NE(s.plan().summary().find("planned evosearch"), std::string::npos);
  auto evo = evosearch_config(s, 30);
  ASSERT_TRUE(evo.ok());
  EXPECT_EQ(evosearch_nfe(*evo), s.plan().nfe());

  // Best-of-N at equal NFE with an EvoSearch schedule of 3840 NFE at T = 50 runs 76 samples.
  proto::SearchSpec bon;
  bon.set_method("best-of-n");
  for (int v : {0, 10, 20, 30}) bon.add_evolution_steps(v);
  for (int v : {32, 16, 16, 16, 16}) bon.add_population(v);
  ASSERT_TRUE(plan_search(bon, 50).ok());
  EXPECT_EQ(bon.n(), 76);
  EXPECT_EQ(bon.plan().budget(), "evosearch_nfe");
  EXPECT_EQ(bon.plan().requested(), 3840);
  EXPECT_EQ(bon.plan().used(), 3800);
  EXPECT_EQ(bon.plan().rounded(), "down");

  proto::SearchSpec look;
  look.set_method("evosearch-lookahead");
  look.set_model_calls_budget(640);
  ASSERT_TRUE(plan_search(look, 30).ok());
  auto c = lookahead_config(look, 30);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(lookahead_cost(*c).model_calls(), look.plan().used());
  EXPECT_LE(look.plan().used(), 640);

  proto::SearchSpec particles;
  particles.set_method("particles");
  particles.set_model_calls_budget(624);
  ASSERT_TRUE(plan_search(particles, 30).ok());
  EXPECT_EQ(particles.particles(), 14);  // 14 x (30 + 2 x 6) = 588
  EXPECT_EQ(particles.plan().used(), 588);

  // Explicit sizes are never replanned.
  proto::SearchSpec explicit_n;
  explicit_n.set_method("best-of-n");
  explicit_n.set_n(3);
  explicit_n.set_nfe_budget(1000);
  EXPECT_FALSE(needs_plan(explicit_n));
  ASSERT_TRUE(plan_search(explicit_n, 30).ok());
  EXPECT_EQ(explicit_n.n(), 3);
  EXPECT_FALSE(explicit_n.has_plan());
}

// Every job spec in examples/ loads as written (paths, bundle, planning); the budget-only one gets
// a plan that fits its budget.
TEST(Planner, ExampleSpecsLoadAndBudgetOnlyOnesArePlanned) {
  namespace fs = std::filesystem;
  int specs = 0, planned = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(EVOSEARCH_SOURCE_DIR) / "examples")) {
    const std::string name = entry.path().filename().string();
    const std::string ext = entry.path().extension().string();
    if (ext != ".json" && ext != ".yaml") continue;
    if (name.find("vbench") != std::string::npos || name.find("video-suite") != std::string::npos ||
        name.find("video-holdout") != std::string::npos) {
      continue;  // prompt suites, not job specs
    }
    if (ext == ".yaml" && !yaml_supported()) {
      if (testing_support::under_ci()) ADD_FAILURE() << name << ": CI=true and this build has no YAML support";
      continue;
    }
    auto spec = load_job_spec(entry.path().string());
    ASSERT_TRUE(spec.ok()) << name << ": " << spec.status().to_string();
    ++specs;
    if (spec->search().has_plan()) {
      ++planned;
      EXPECT_LE(spec->search().plan().used(), spec->search().plan().requested()) << name;
    }
  }
  EXPECT_GE(specs, 3);
  EXPECT_GE(planned, 1) << "examples/fashion-budget.json gives only a budget";
}

}  // namespace
}  // namespace evosearch
