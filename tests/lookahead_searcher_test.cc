// evosearch-lookahead against fake rollouts: what it screens, what it continues, what it counts,
// what it keeps, and that snapshots and result order do not change its decisions.
#include <algorithm>
#include <map>
#include <random>
#include <string>

#include <gtest/gtest.h>
#include <google/protobuf/util/message_differencer.h>

#include "coordinator/search/lookahead_searcher.h"
#include "coordinator/search/selection.h"
#include "fake_rollouts.h"

namespace evosearch {
namespace {

using testing_support::FakeRollouts;

// T = 30: generation 0 screens 12 noises for 6 steps and continues 4; generation 1 at step 12
// screens 9 (1 elite + 8 mutated) on the x0 prediction there and continues 3; generation 2 at
// step 18 screens 6 after 2 steps and continues 2.
LookaheadConfig config() {
  LookaheadConfig c;
  c.evo.steps = 30;
  c.evo.evolution_steps = {12, 18};
  c.evo.population = {4, 3, 2};
  c.evo.elites = 1;
  c.screened = {12, 9, 6};
  c.lookahead_steps = {6, 0, 2};
  return c;
}

bool same(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

TEST(Lookahead, ScreensThenContinuesTheBestByLookAhead) {
  const LookaheadConfig c = config();
  ASSERT_TRUE(validate(c).ok()) << validate(c).to_string();
  LookaheadSearcher searcher(c, SearchKey{1, 2});
  FakeRollouts rollouts(1);
  EXPECT_EQ(searcher.generation_count(), 6u);
  const int starts[] = {0, 12, 18};
  for (size_t g = 0; g < 3; ++g) {
    const int start = starts[g], end = start + c.lookahead_steps[g];
    // Screening.
    const std::vector<proto::ArchiveEntry> pool = searcher.archive();
    std::vector<proto::RolloutTask> tasks = searcher.next_generation();
    ASSERT_EQ(tasks.size(), static_cast<size_t>(c.screened[g]));
    std::vector<double> pool_fitness;
    for (const auto& e : pool) pool_fitness.push_back(e.fitness());
    const std::vector<size_t> top = top_indices(pool_fitness, 1);
    for (size_t i = 0; i < tasks.size(); ++i) {
      const proto::RolloutTask& t = tasks[i];
      EXPECT_EQ(t.generation(), 2 * g);
      EXPECT_EQ(t.start_step(), start);
      EXPECT_EQ(t.end_step(), end);
      EXPECT_EQ(t.score(), proto::SCORE_X0_PREDICTION);
      EXPECT_EQ(std::vector<int>(t.keep_steps().begin(), t.keep_steps().end()), std::vector<int>{end});
      if (g == 0) {
        EXPECT_FALSE(t.has_parent());
        continue;
      }
      ASSERT_TRUE(t.has_parent());
      EXPECT_EQ(static_cast<int>(t.parent().step()), start);
      if (i == 0) {  // the elite: the pool's best, unmutated
        EXPECT_EQ(t.parent().generation(), pool[top[0]].generation());
        EXPECT_EQ(t.parent().candidate(), pool[top[0]].candidate());
        EXPECT_EQ(t.mutation(), proto::MUTATION_NONE);
      } else {
        EXPECT_EQ(t.mutation(), proto::MUTATION_ADD_NOISE);
      }
    }
    auto screened = rollouts.run(tasks);
    ASSERT_TRUE(screened.ok()) << screened.status().to_string();
    ASSERT_TRUE(searcher.on_results(*screened).ok());
    rollouts.release_all_but(searcher.live_states());
    // Only the children that will continue stay resident.
    EXPECT_EQ(rollouts.stored_states(), static_cast<size_t>(c.evo.population[g]) +
                                            (g + 1 < 3 ? pool.size() * (2 - g) : 0) + (g > 0 ? 1 : 0));
    // Continuation: the k best screened, best first, unmutated from their look-ahead state.
    std::vector<double> fitness;
    for (const auto& r : *screened) fitness.push_back(r.fitness());
    const std::vector<size_t> chosen = top_indices(fitness, c.evo.population[g]);
    tasks = searcher.next_generation();
    ASSERT_EQ(tasks.size(), chosen.size());
    for (size_t i = 0; i < tasks.size(); ++i) {
      const proto::RolloutTask& t = tasks[i];
      EXPECT_EQ(t.generation(), 2 * g + 1);
      EXPECT_EQ(t.start_step(), end);
      EXPECT_EQ(t.end_step(), 30);
      EXPECT_EQ(t.score(), proto::SCORE_FINAL);
      EXPECT_EQ(t.mutation(), proto::MUTATION_NONE);
      ASSERT_TRUE(t.has_parent());
      EXPECT_EQ(t.parent().generation(), 2 * g);
      EXPECT_EQ(t.parent().candidate(), (*screened)[chosen[i]].candidate());
      EXPECT_EQ(static_cast<int>(t.parent().step()), end);
      std::vector<int> want(c.evo.evolution_steps.begin() + g, c.evo.evolution_steps.end());
      want.push_back(30);
      EXPECT_EQ(std::vector<int>(t.keep_steps().begin(), t.keep_steps().end()), want);
    }
    auto finals = rollouts.run(tasks);
    ASSERT_TRUE(finals.ok()) << finals.status().to_string();
    ASSERT_TRUE(searcher.on_results(*finals).ok());
    rollouts.release_all_but(searcher.live_states());
    EXPECT_EQ(searcher.archive().size(), pool.size() + chosen.size());
  }
  EXPECT_TRUE(searcher.done());
}

TEST(Lookahead, CountsEveryCallAndAnswersWithTheBestFinalSample) {
  const LookaheadConfig c = config();
  LookaheadSearcher searcher(c, SearchKey{3, 4});
  FakeRollouts rollouts(3);
  auto all = rollouts.run_to_end(searcher);
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  // The fake rollout costs end - start NFE: screening L_g, continuing T - s_g - L_g.
  const int64_t nfe = 12 * 6 + 4 * 24 + 9 * 0 + 3 * 18 + 6 * 2 + 2 * 10;
  EXPECT_EQ(searcher.accounting().nfe(), nfe);
  EXPECT_EQ(searcher.accounting().rollouts(), 12 + 4 + 9 + 3 + 6 + 2);
  EXPECT_EQ(searcher.accounting().reward_calls(), 36);
  EXPECT_EQ(searcher.accounting().decode_calls(), 36);
  // The answer is the best final sample; a screened child's look-ahead score never is.
  double best = -1e9;
  for (const auto& r : *all) {
    if (r.generation() % 2 == 1) best = std::max(best, r.fitness());
  }
  ASSERT_TRUE(searcher.best().found());
  EXPECT_DOUBLE_EQ(searcher.best().fitness(), best);
  EXPECT_EQ(searcher.best().state().generation() % 2, 1u);
  EXPECT_EQ(searcher.best().state().step(), 30u);
}

TEST(Lookahead, ResultOrderDoesNotChangeDecisions) {
  LookaheadSearcher a(config(), SearchKey{5, 6}), b(config(), SearchKey{5, 6});
  FakeRollouts ra(5), rb(5);
  std::mt19937 shuffle(7);
  while (!a.done()) {
    const auto ta = a.next_generation(), tb = b.next_generation();
    ASSERT_EQ(ta.size(), tb.size());
    for (size_t i = 0; i < ta.size(); ++i) EXPECT_TRUE(same(ta[i], tb[i]));
    auto xa = ra.run(ta), xb = rb.run(tb);
    ASSERT_TRUE(xa.ok() && xb.ok());
    std::shuffle(xb->begin(), xb->end(), shuffle);
    ASSERT_TRUE(a.on_results(*xa).ok());
    ASSERT_TRUE(b.on_results(*xb).ok());
    ra.release_all_but(a.live_states());
    rb.release_all_but(b.live_states());
  }
  EXPECT_TRUE(same(a.best(), b.best()));
  EXPECT_TRUE(same(a.snapshot(), b.snapshot()));
}

TEST(Lookahead, SnapshotRestoreContinuesIdenticallyFromEitherPhase) {
  LookaheadSearcher straight(config(), SearchKey{9, 9});
  FakeRollouts a(9);
  ASSERT_TRUE(a.run_to_end(straight).ok());
  for (int phases : {1, 2, 3}) {  // after a screening (odd) or a continuation (even)
    LookaheadSearcher first(config(), SearchKey{9, 9});
    FakeRollouts b(9);
    for (int p = 0; p < phases; ++p) {
      auto r = b.run(first.next_generation());
      ASSERT_TRUE(r.ok());
      ASSERT_TRUE(first.on_results(*r).ok());
      b.release_all_but(first.live_states());
    }
    LookaheadSearcher second(config(), SearchKey{9, 9});
    ASSERT_TRUE(second.restore(first.snapshot()).ok());
    EXPECT_EQ(second.generation(), static_cast<uint32_t>(phases));
    ASSERT_TRUE(b.run_to_end(second).ok()) << "restored after phase " << phases;
    EXPECT_TRUE(same(second.best(), straight.best()));
    EXPECT_TRUE(same(second.accounting(), straight.accounting()));
  }
  proto::SearcherSnapshot wrong = straight.snapshot();
  wrong.set_method("evosearch");
  EXPECT_FALSE(LookaheadSearcher(config(), SearchKey{9, 9}).restore(wrong).ok());
}

TEST(Lookahead, InvalidSchedulesNameTheField) {
  const std::pair<void (*)(LookaheadConfig&), const char*> cases[] = {
      {[](LookaheadConfig& c) { c.screened = {12, 9}; }, "screened"},
      {[](LookaheadConfig& c) { c.screened[1] = 2; }, "screened[1]"},
      {[](LookaheadConfig& c) { c.lookahead_steps = {6, 0}; }, "lookahead_steps"},
      {[](LookaheadConfig& c) { c.lookahead_steps[0] = 13; }, "lookahead_steps[0]"},
      {[](LookaheadConfig& c) { c.lookahead_steps[2] = 12; }, "lookahead_steps[2]"},
      {[](LookaheadConfig& c) { c.lookahead_steps[1] = -1; }, "lookahead_steps[1]"},
      {[](LookaheadConfig& c) { c.evo.population = {4, 3}; }, "population"},
  };
  for (const auto& [mutate, field] : cases) {
    LookaheadConfig c = config();
    mutate(c);
    const Status s = validate(c);
    EXPECT_FALSE(s.ok()) << field;
    EXPECT_NE(s.to_string().find(field), std::string::npos) << s.to_string();
  }
}

TEST(Lookahead, DefaultLookAheadOnlyWhereAGenerationStartsFromNoise) {
  EvoSearchConfig evo;
  evo.steps = 30;
  evo.evolution_steps = {0, 12, 18};
  evo.population = {8, 4, 4, 4};
  // Generation 0 cannot pass step 0 (generation 1 starts there); generation 1 looks 6 ahead.
  EXPECT_EQ(default_lookahead_steps(evo), (std::vector<int>{0, 6, 0, 0}));
  evo.evolution_steps = {12};
  evo.population = {8, 4};
  EXPECT_EQ(default_lookahead_steps(evo), (std::vector<int>{6, 0}));
}

// The report shows what the searcher says: its sizes as run, and as screening generations
// exactly the phases whose tasks are scored on the x0 prediction.
TEST(Lookahead, DescribesItsSettingsAndScreeningPhases) {
  LookaheadSearcher searcher(config(), SearchKey{1, 2});
  const proto::MethodDescription d = searcher.describe();
  EXPECT_EQ(d.method(), "evosearch-lookahead");
  EXPECT_EQ(d.title(), "EvoSearch with look-ahead");
  std::map<std::string, std::string> settings;
  for (const proto::MethodSetting& s : d.settings()) {
    EXPECT_FALSE(s.doc().empty()) << s.label();
    settings[s.label()] = s.value();
  }
  EXPECT_EQ(settings, (std::map<std::string, std::string>{{"Evolution steps", "12, 18"},
                                                         {"Population", "4, 3, 2"},
                                                         {"Elites", "1"},
                                                         {"Tournament fraction", "0.9"},
                                                         {"Beta", "0.3"},
                                                         {"Screened", "12, 9, 6"},
                                                         {"Look-ahead steps", "6, 0, 2"}}));
  std::vector<uint32_t> x0_scored;
  FakeRollouts rollouts(4);
  while (!searcher.done()) {
    const uint32_t phase = searcher.generation();
    const std::vector<proto::RolloutTask> tasks = searcher.next_generation();
    if (tasks.front().score() == proto::SCORE_X0_PREDICTION) x0_scored.push_back(phase);
    auto results = rollouts.run(tasks);
    ASSERT_TRUE(results.ok()) << results.status().to_string();
    ASSERT_TRUE(searcher.on_results(*results).ok());
    rollouts.release_all_but(searcher.live_states());
  }
  EXPECT_EQ(x0_scored, (std::vector<uint32_t>{0, 2, 4}));
  EXPECT_EQ(std::vector<uint32_t>(d.screening_generations().begin(), d.screening_generations().end()), x0_scored);
}

}  // namespace
}  // namespace evosearch
