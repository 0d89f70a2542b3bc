// Searchers against fake rollouts: what they decide, what they count, what they keep.
#include <algorithm>
#include <cmath>
#include <map>

#include <gtest/gtest.h>
#include <google/protobuf/util/message_differencer.h>

#include "coordinator/search/best_of_n_searcher.h"
#include "coordinator/search/budget.h"
#include "coordinator/search/evo_searcher.h"
#include "coordinator/search/particle_searcher.h"
#include "coordinator/search/selection.h"
#include "fake_rollouts.h"

namespace evosearch {
namespace {

using testing_support::FakeRollouts;

EvoSearchConfig sd21() {
  EvoSearchConfig c;
  c.steps = 50;
  c.evolution_steps = {0, 20, 30, 40};
  c.population = {42, 26, 26, 26, 30};
  c.elites = 5;
  return c;
}

bool same(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

// The generations whose tasks score the x0 prediction, found by running the searcher to the end.
std::vector<uint32_t> x0_scored_generations(Searcher& searcher, FakeRollouts& rollouts) {
  std::vector<uint32_t> out;
  while (!searcher.done()) {
    const uint32_t g = searcher.generation();
    const std::vector<proto::RolloutTask> tasks = searcher.next_generation();
    if (std::any_of(tasks.begin(), tasks.end(),
                    [](const proto::RolloutTask& t) { return t.score() == proto::SCORE_X0_PREDICTION; })) {
      out.push_back(g);
    }
    auto results = rollouts.run(tasks);
    EXPECT_TRUE(results.ok()) << results.status().to_string();
    if (!results.ok() || !searcher.on_results(*results).ok()) break;
    rollouts.release_all_but(searcher.live_states());
  }
  return out;
}

std::map<std::string, std::string> settings_of(const proto::MethodDescription& d) {
  std::map<std::string, std::string> out;
  for (const proto::MethodSetting& s : d.settings()) {
    EXPECT_FALSE(s.doc().empty()) << s.label();  // every setting says what it means
    EXPECT_TRUE(out.emplace(s.label(), s.value()).second) << "twice: " << s.label();
  }
  return out;
}

// What a method says about itself matches what it does: its screening generations are
// exactly those whose tasks are scored on the x0 prediction.
void expect_true_screening(Searcher& searcher, FakeRollouts& rollouts) {
  const proto::MethodDescription d = searcher.describe();
  EXPECT_EQ(d.method(), searcher.method());
  EXPECT_FALSE(d.title().empty());
  const std::vector<uint32_t> described(d.screening_generations().begin(), d.screening_generations().end());
  EXPECT_EQ(described, x0_scored_generations(searcher, rollouts)) << searcher.method();
}

TEST(EvoSearch, Sd21ScheduleCosts5000Nfe) {
  EXPECT_EQ(evosearch_nfe(sd21()), 5000);
  EvoSearcher searcher(sd21(), SearchKey{1, 2});
  FakeRollouts rollouts(1);
  auto results = rollouts.run_to_end(searcher);
  ASSERT_TRUE(results.ok()) << results.status().to_string();
  EXPECT_EQ(searcher.accounting().nfe(), 5000);
  EXPECT_EQ(searcher.accounting().rollouts(), 42 + 26 * 3 + 30);
  EXPECT_EQ(searcher.accounting().reward_calls(), 150);
  EXPECT_EQ(searcher.accounting().decode_calls(), 150);
}

TEST(EvoSearch, ArchiveGrowsAndElitesSurviveUnmutated) {
  EvoSearcher searcher(sd21(), SearchKey{3, 4});
  FakeRollouts rollouts(3);
  const EvoSearchConfig c = sd21();
  size_t expected_pool = 0;
  while (!searcher.done()) {
    const uint32_t g = searcher.generation();
    const std::vector<proto::RolloutTask> tasks = searcher.next_generation();
    ASSERT_EQ(tasks.size(), static_cast<size_t>(c.population[g]));
    if (g > 0) {
      const std::vector<proto::ArchiveEntry> pool = searcher.pool(g);
      EXPECT_EQ(pool.size(), expected_pool) << "generation " << g;
      std::vector<double> fitness;
      for (const auto& e : pool) fitness.push_back(e.fitness());
      const std::vector<size_t> top = top_indices(fitness, c.elites);
      const int s = c.evolution_steps[g - 1];
      for (size_t i = 0; i < tasks.size(); ++i) {
        const proto::RolloutTask& t = tasks[i];
        EXPECT_EQ(t.start_step(), s);
        ASSERT_TRUE(t.has_parent());
        EXPECT_EQ(static_cast<int>(t.parent().step()), s);
        if (i < top.size()) {  // elites: the top-m of the pool, copied as they are
          EXPECT_EQ(t.parent().generation(), pool[top[i]].generation());
          EXPECT_EQ(t.parent().candidate(), pool[top[i]].candidate());
          EXPECT_EQ(t.mutation(), proto::MUTATION_NONE);
        } else {
          EXPECT_EQ(t.mutation(), s == 0 ? proto::MUTATION_INTERPOLATE : proto::MUTATION_ADD_NOISE);
          EXPECT_DOUBLE_EQ(t.beta(), 0.3);
        }
        // Every later schedule step is archived, and the final sample.
        std::vector<int> keep(t.keep_steps().begin(), t.keep_steps().end());
        std::vector<int> want(c.evolution_steps.begin() + g, c.evolution_steps.end());
        want.push_back(50);
        EXPECT_EQ(keep, want);
      }
    }
    auto results = rollouts.run(tasks);
    ASSERT_TRUE(results.ok()) << results.status().to_string();
    ASSERT_TRUE(searcher.on_results(*results).ok());
    rollouts.release_all_but(searcher.live_states());
    expected_pool += tasks.size();  // the pool grows: k_init, k_init + k_1, ...
  }
}

TEST(EvoSearch, AnswerIsTheBestRolloutOfAnyGeneration) {
  EvoSearcher searcher(sd21(), SearchKey{5, 6});
  FakeRollouts rollouts(5);
  auto results = rollouts.run_to_end(searcher);
  ASSERT_TRUE(results.ok());
  const auto best = std::max_element(results->begin(), results->end(),
                                     [](const auto& a, const auto& b) { return a.fitness() < b.fitness(); });
  EXPECT_EQ(searcher.best().fitness(), best->fitness());
  EXPECT_EQ(searcher.best().state().generation(), best->generation());
  EXPECT_EQ(searcher.best().state().candidate(), best->candidate());
  EXPECT_TRUE(rollouts.has_state(searcher.best().state()));  // the answer's state is never freed
  // Evolution helps on this toy problem: the best of generation 0 is beaten later.
  double best_initial = -1e9;
  for (const auto& r : *results) if (r.generation() == 0) best_initial = std::max(best_initial, r.fitness());
  EXPECT_GT(searcher.best().fitness(), best_initial);
}

TEST(EvoSearch, FreesStatesNoLaterGenerationNeeds) {
  EvoSearcher searcher(sd21(), SearchKey{7, 8});
  FakeRollouts rollouts(7);
  ASSERT_TRUE(rollouts.run_to_end(searcher).ok());
  EXPECT_EQ(rollouts.stored_states(), 1u);  // only the answer is left
}

TEST(EvoSearch, SameKeySameDecisionsOtherSeedOthers) {
  auto decisions = [](uint64_t seed) {
    EvoSearcher searcher(sd21(), SearchKey{seed, 9});
    FakeRollouts rollouts(11);  // same rollout noise: only the searcher's draws differ
    std::vector<proto::RolloutTask> all;
    while (!searcher.done()) {
      auto tasks = searcher.next_generation();
      all.insert(all.end(), tasks.begin(), tasks.end());
      auto results = rollouts.run(tasks);
      EXPECT_TRUE(results.ok());
      EXPECT_TRUE(searcher.on_results(*results).ok());
    }
    return all;
  };
  const auto a = decisions(1), b = decisions(1), c = decisions(2);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(same(a[i], b[i])) << i;
  bool differs = false;
  for (size_t i = 0; i < a.size(); ++i) differs |= !same(a[i], c[i]);
  EXPECT_TRUE(differs);
}

// Workers finish in any order: the decisions and the answer must not depend on it.
TEST(Searchers, ResultOrderDoesNotChangeDecisions) {
  ParticleConfig pc;
  pc.steps = 30;
  pc.particles = 6;
  pc.interval = 5;
  auto run = [&](const std::string& method, bool reversed) {
    std::unique_ptr<Searcher> searcher;
    if (method == "evosearch") {
      searcher = std::make_unique<EvoSearcher>(sd21(), SearchKey{4, 9});
    } else {
      searcher = std::make_unique<ParticleSearcher>(pc, SearchKey{4, 9});
    }
    FakeRollouts rollouts(11);
    std::vector<proto::RolloutTask> all;
    while (!searcher->done()) {
      auto tasks = searcher->next_generation();
      all.insert(all.end(), tasks.begin(), tasks.end());
      auto results = rollouts.run(tasks);
      EXPECT_TRUE(results.ok());
      if (reversed) std::reverse(results->begin(), results->end());
      EXPECT_TRUE(searcher->on_results(*results).ok());
      rollouts.release_all_but(searcher->live_states());
    }
    return std::make_pair(all, searcher->snapshot());
  };
  for (const std::string method : {"evosearch", "particles"}) {
    const auto a = run(method, false), b = run(method, true);
    ASSERT_EQ(a.first.size(), b.first.size()) << method;
    for (size_t i = 0; i < a.first.size(); ++i) EXPECT_TRUE(same(a.first[i], b.first[i])) << method << " task " << i;
    EXPECT_TRUE(same(a.second, b.second)) << method;
  }
}

TEST(EvoSearch, SnapshotRestoreContinuesIdentically) {
  EvoSearcher straight(sd21(), SearchKey{13, 14});
  FakeRollouts rollouts(13);
  auto all = rollouts.run_to_end(straight);
  ASSERT_TRUE(all.ok());

  EvoSearcher first(sd21(), SearchKey{13, 14});
  FakeRollouts resumed_rollouts(13);
  for (int g = 0; g < 2; ++g) {
    auto results = resumed_rollouts.run(first.next_generation());
    ASSERT_TRUE(first.on_results(*results).ok());
    resumed_rollouts.release_all_but(first.live_states());
  }
  // A new process: a fresh searcher restored from the snapshot, same rollout states.
  EvoSearcher second(sd21(), SearchKey{13, 14});
  ASSERT_TRUE(second.restore(first.snapshot()).ok());
  EXPECT_EQ(second.generation(), 2u);
  ASSERT_TRUE(resumed_rollouts.run_to_end(second).ok());
  EXPECT_TRUE(same(second.best(), straight.best()));
  EXPECT_TRUE(same(second.accounting(), straight.accounting()));
}

TEST(EvoSearch, InvalidSchedulesNameTheField) {
  struct Bad {
    void (*edit)(EvoSearchConfig&);
    const char* field;
  };
  const std::vector<Bad> cases = {
      {[](EvoSearchConfig& c) { c.evolution_steps = {0, 30, 20, 40}; }, "strictly increasing"},
      {[](EvoSearchConfig& c) { c.population = {42, 26, 26}; }, "population: expected 5"},
      {[](EvoSearchConfig& c) { c.elites = 26; }, "elites"},
      {[](EvoSearchConfig& c) { c.evolution_steps = {0, 20, 30, 50}; }, "evolution_steps[3]"},
      {[](EvoSearchConfig& c) { c.evolution_steps = {-1, 20, 30, 40}; }, "evolution_steps[0]"},
      {[](EvoSearchConfig& c) { c.population[2] = 0; }, "population[2]"},
      {[](EvoSearchConfig& c) { c.tournament_fraction = 0; }, "tournament_fraction"},
      {[](EvoSearchConfig& c) { c.beta = 1.5; }, "beta"},
  };
  ASSERT_TRUE(validate(sd21()).ok());
  for (const Bad& bad : cases) {
    EvoSearchConfig c = sd21();
    bad.edit(c);
    const Status s = validate(c);
    EXPECT_FALSE(s.ok()) << bad.field;
    EXPECT_NE(s.message().find(bad.field), std::string::npos) << s.message();
  }
}

TEST(Selection, TournamentWinsMatchTheFraction) {
  std::vector<double> fitness(50);
  for (size_t i = 0; i < fitness.size(); ++i) fitness[i] = std::sin(i * 1.7);  // distinct, shuffled
  const size_t best = top_indices(fitness, 1)[0];
  for (double fraction : {0.9, 0.5, 0.1}) {
    int wins = 0;
    const int trials = 20000;
    for (int t = 0; t < trials; ++t) {
      wins += tournament(fitness, fraction, NoiseKey{1, 2, 3, static_cast<uint32_t>(t), 0, kSelectionDraw}) == best;
    }
    // The best entry wins exactly when it is among the round(fraction * n) drawn.
    const double expected = std::round(fraction * 50) / 50.0;
    EXPECT_NEAR(wins / double(trials), expected, 0.012) << "fraction " << fraction;
  }
  // A tournament over the whole pool always picks the best.
  EXPECT_EQ(tournament(fitness, 1.0, NoiseKey{9}), best);
}

TEST(Selection, MultinomialFrequenciesFollowTheWeights) {
  const std::vector<double> log_w{std::log(0.1), std::log(0.2), std::log(0.7)};
  const std::vector<size_t> draws = multinomial_resample(log_w, 30000, NoiseKey{4, 4});
  std::map<size_t, int> count;
  for (size_t d : draws) ++count[d];
  EXPECT_NEAR(count[0] / 30000.0, 0.1, 0.01);
  EXPECT_NEAR(count[1] / 30000.0, 0.2, 0.01);
  EXPECT_NEAR(count[2] / 30000.0, 0.7, 0.01);
  EXPECT_NEAR(effective_sample_size({0, 0, 0, 0}), 4.0, 1e-12);
  EXPECT_NEAR(effective_sample_size({0, -1000, -1000, -1000}), 1.0, 1e-9);
}

TEST(BestOfN, KeepsTheBestOfNIndependentRollouts) {
  BestOfNSearcher searcher(population_for_budget(5000, 50), 50);
  FakeRollouts rollouts(21);
  auto results = rollouts.run_to_end(searcher);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ(results->size(), 100u);
  EXPECT_EQ(searcher.accounting().nfe(), 5000);  // sized to the EvoSearch budget
  double best = -1e9;
  for (const auto& r : *results) {
    best = std::max(best, r.fitness());
  }
  EXPECT_EQ(searcher.best().fitness(), best);
  BestOfNSearcher none(1, 50, "none");
  ASSERT_TRUE(rollouts.run_to_end(none).ok());
  EXPECT_EQ(none.accounting().nfe(), 50);
}

ParticleConfig particles(Potential potential, double lambda, bool adaptive = false) {
  ParticleConfig c;
  c.steps = 20;
  c.particles = 8;
  c.lambda = lambda;
  c.interval = 5;
  c.potential = potential;
  c.adaptive = adaptive;
  return c;
}

TEST(Particles, BoundariesAndBudget) {
  EXPECT_EQ(particle_boundaries(particles(Potential::kMax, 10)), (std::vector<int>{0, 5, 10, 15, 20}));
  ParticleConfig windowed = particles(Potential::kMax, 10);
  windowed.window_start = 2;
  windowed.window_end = 12;
  EXPECT_EQ(particle_boundaries(windowed), (std::vector<int>{0, 7, 12, 20}));
  ParticleSearcher searcher(particles(Potential::kMax, 10), SearchKey{1, 1});
  FakeRollouts rollouts(31);
  ASSERT_TRUE(rollouts.run_to_end(searcher).ok());
  EXPECT_EQ(searcher.accounting().nfe(), 8 * 20);  // k * T
  EXPECT_EQ(searcher.accounting().reward_calls(), 8 * 4);  // one score per particle per segment
  EXPECT_EQ(searcher.resample_count(), 3);
  EXPECT_EQ(searcher.final_weights().size(), 8u);
}

TEST(Particles, StrongPotentialCollapsesOntoTheBestParticle) {
  ParticleSearcher searcher(particles(Potential::kRt, 1000), SearchKey{2, 2});
  FakeRollouts rollouts(41);
  auto first = rollouts.run(searcher.next_generation());
  ASSERT_TRUE(first.ok());
  const auto best = std::max_element(first->begin(), first->end(),
                                     [](const auto& a, const auto& b) { return a.fitness() < b.fitness(); });
  ASSERT_TRUE(searcher.on_results(*first).ok());
  for (const auto& p : searcher.particles()) {
    EXPECT_EQ(p.state().candidate(), best->candidate());  // every particle descends from the best
    EXPECT_NEAR(p.log_potential(), 1000 * best->fitness(), 1e-9);
  }
  const auto next = searcher.next_generation();
  for (const auto& t : next) {
    EXPECT_EQ(t.parent().candidate(), best->candidate());
    EXPECT_EQ(t.mutation(), proto::MUTATION_NONE);
    EXPECT_EQ(t.score(), proto::SCORE_X0_PREDICTION);
  }
}

TEST(Particles, ZeroLambdaResamplesUniformlyAndAdaptiveSkips) {
  // lambda = 0: equal weights; ESS = k, so adaptive resampling never resamples.
  ParticleSearcher adaptive(particles(Potential::kMax, 0, true), SearchKey{3, 3});
  FakeRollouts rollouts(51);
  ASSERT_TRUE(rollouts.run_to_end(adaptive).ok());
  EXPECT_EQ(adaptive.resample_count(), 0);
  for (double w : adaptive.final_weights()) EXPECT_NEAR(w, 1.0 / 8, 1e-12);
  // Without adaptivity it resamples, uniformly: fitter particles are chosen as parents no more
  // often than the others (400 searches x 8 draws; 4 standard deviations is 0.021).
  std::vector<int> parent_rank_count(8, 0);
  int draws = 0;
  for (uint64_t prompt = 0; prompt < 400; ++prompt) {
    ParticleSearcher uniform(particles(Potential::kRt, 0), SearchKey{3, prompt});
    FakeRollouts scalar(60 + prompt);
    auto first = scalar.run(uniform.next_generation());
    ASSERT_TRUE(first.ok());
    ASSERT_TRUE(uniform.on_results(*first).ok());
    std::vector<double> fitness(8);
    for (const auto& r : *first) fitness[r.candidate()] = r.fitness();
    std::vector<size_t> order(8);
    for (size_t i = 0; i < 8; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return fitness[a] > fitness[b]; });
    for (const auto& t : uniform.next_generation()) {
      const size_t parent = t.parent().candidate();
      ++parent_rank_count[std::find(order.begin(), order.end(), parent) - order.begin()];
      ++draws;
    }
  }
  ASSERT_EQ(draws, 3200);
  for (int rank = 0; rank < 8; ++rank) {
    EXPECT_NEAR(parent_rank_count[rank] / 3200.0, 1.0 / 8, 0.021) << "fitness rank " << rank;
  }
}

// A case worked out by hand: k = 2, lambda = 1, one resampling step at 5 of 10. The first
// segment's x0 rewards are a = (0, ln 2); resampling applies exp(a_parent) to each new particle
// (potential "diff": lambda * (a - 0)), and the final weight of a particle with final reward b is
// exp(b) / exp(a_parent). With b = (ln 3, ln 3): a particle descended from candidate 0 weighs 3,
// one from candidate 1 weighs 3/2.
TEST(Particles, FinalWeightsDivideOutAppliedPotentials) {
  for (const Potential potential : {Potential::kDiff, Potential::kMax, Potential::kAdd, Potential::kRt}) {
    ParticleConfig c;
    c.steps = 10;
    c.particles = 2;
    c.lambda = 1.0;
    c.interval = 5;
    c.potential = potential;
    for (uint64_t seed = 0; seed < 8; ++seed) {  // different draws give different parents
      ParticleSearcher searcher(c, SearchKey{seed, 4});
      auto results = [](const std::vector<proto::RolloutTask>& tasks, std::vector<double> fitness) {
        std::vector<proto::RolloutResult> out;
        for (const auto& t : tasks) {
          proto::RolloutResult& r = out.emplace_back();
          r.set_generation(t.generation());
          r.set_candidate(t.candidate());
          r.set_fitness(fitness[t.candidate()]);
        }
        return out;
      };
      ASSERT_TRUE(searcher.on_results(results(searcher.next_generation(), {0.0, std::log(2.0)})).ok());
      const std::vector<proto::RolloutTask> last = searcher.next_generation();
      ASSERT_TRUE(searcher.on_results(results(last, {std::log(3.0), std::log(3.0)})).ok());
      ASSERT_TRUE(searcher.done());
      const double w0 = last[0].parent().candidate() == 0 ? 3.0 : 1.5;
      const double w1 = last[1].parent().candidate() == 0 ? 3.0 : 1.5;
      ASSERT_EQ(searcher.final_weights().size(), 2u);
      EXPECT_NEAR(searcher.final_weights()[0], w0 / (w0 + w1), 1e-12) << potential_name(potential) << " seed " << seed;
      EXPECT_NEAR(searcher.final_weights()[1], w1 / (w0 + w1), 1e-12) << potential_name(potential) << " seed " << seed;
    }
  }
}

TEST(Particles, SnapshotRestoreContinuesIdentically) {
  ParticleSearcher straight(particles(Potential::kAdd, 5), SearchKey{5, 5});
  FakeRollouts a(71);
  ASSERT_TRUE(a.run_to_end(straight).ok());
  ParticleSearcher first(particles(Potential::kAdd, 5), SearchKey{5, 5});
  FakeRollouts b(71);
  auto r = b.run(first.next_generation());
  ASSERT_TRUE(first.on_results(*r).ok());
  ParticleSearcher second(particles(Potential::kAdd, 5), SearchKey{5, 5});
  ASSERT_TRUE(second.restore(first.snapshot()).ok());
  ASSERT_TRUE(b.run_to_end(second).ok());
  EXPECT_TRUE(same(second.best(), straight.best()));
  EXPECT_EQ(second.final_weights(), straight.final_weights());
}

TEST(Searchers, DescribeTheirSettingsAsRun) {
  EvoSearcher evo(sd21(), SearchKey{1, 2});
  EXPECT_EQ(evo.describe().title(), "EvoSearch");
  EXPECT_EQ(settings_of(evo.describe()),
            (std::map<std::string, std::string>{{"Evolution steps", "0, 20, 30, 40"},
                                                {"Population", "42, 26, 26, 26, 30"},
                                                {"Elites", "5"},
                                                {"Tournament fraction", "0.9"},
                                                {"Beta", "0.3"}}));
  EvoSearchConfig no_evolution = sd21();
  no_evolution.evolution_steps.clear();
  no_evolution.population = {16};
  EXPECT_EQ(settings_of(EvoSearcher(no_evolution, SearchKey{1, 2}).describe()).at("Evolution steps"), "none");

  BestOfNSearcher best_of_n(12, 50);
  EXPECT_EQ(best_of_n.describe().title(), "Best-of-N");
  EXPECT_EQ(settings_of(best_of_n.describe()), (std::map<std::string, std::string>{{"N", "12"}}));
  BestOfNSearcher none(1, 50, "none");
  EXPECT_EQ(none.describe().method(), "none");
  EXPECT_EQ(none.describe().title(), "No search (one sample)");
  EXPECT_EQ(none.describe().settings_size(), 0);

  ParticleConfig windowed = particles(Potential::kDiff, 2.5, true);
  windowed.window_start = 2;
  windowed.window_end = 12;
  EXPECT_EQ(settings_of(ParticleSearcher(windowed, SearchKey{1, 1}).describe()),
            (std::map<std::string, std::string>{{"Particles", "8"},
                                                {"Lambda", "2.5"},
                                                {"Potential", "diff"},
                                                {"Resample interval", "5"},
                                                {"Resample window", "2 to 12"},
                                                {"Adaptive resampling", "yes (when ESS < k/2)"}}));
  EXPECT_EQ(settings_of(ParticleSearcher(particles(Potential::kMax, 10), SearchKey{1, 1}).describe())
                .at("Resample window"),
            "0 to 20");  // the window's end defaults to T
}

TEST(Searchers, ScreeningGenerationsAreThoseScoredOnTheX0Prediction) {
  FakeRollouts rollouts(5);
  EvoSearcher evo(sd21(), SearchKey{1, 2});
  expect_true_screening(evo, rollouts);
  BestOfNSearcher best_of_n(6, 50);
  expect_true_screening(best_of_n, rollouts);
  // Particles: every segment before the last; with a window, fewer segments.
  ParticleSearcher particle(particles(Potential::kMax, 10), SearchKey{1, 1});
  EXPECT_EQ(particle.describe().screening_generations_size(), 3);
  expect_true_screening(particle, rollouts);
  ParticleConfig windowed = particles(Potential::kMax, 10);
  windowed.window_start = 2;
  windowed.window_end = 12;
  ParticleSearcher windowed_searcher(windowed, SearchKey{1, 1});
  EXPECT_EQ(windowed_searcher.describe().screening_generations_size(), 2);
  expect_true_screening(windowed_searcher, rollouts);
}

}  // namespace
}  // namespace evosearch
