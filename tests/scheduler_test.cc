// The distributed scheduler (pure logic): locality, balance, the moves it plans, order.
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "coordinator/scheduler.h"
#include "coordinator/search/searcher.h"

namespace evosearch {
namespace {

proto::PromptRolloutTask task(uint32_t prompt, uint32_t generation, uint32_t candidate, int start, int end,
                       std::optional<proto::StateRef> parent = std::nullopt) {
  proto::PromptRolloutTask t;
  t.set_prompt(prompt);
  t.mutable_task()->set_generation(generation);
  t.mutable_task()->set_candidate(candidate);
  t.mutable_task()->set_start_step(start);
  t.mutable_task()->set_end_step(end);
  if (parent) *t.mutable_task()->mutable_parent() = *parent;
  return t;
}

std::map<int, size_t> sizes(const SchedulePlan& plan) {
  std::map<int, size_t> out;
  for (const auto& b : plan.batches) out[b.worker] = b.tasks.size();
  return out;
}

TEST(Scheduler, ChildrenRunWhereTheirParentsAreWhenThatIsBalanced) {
  StatePlacement placement;
  Scheduler scheduler(2, 8);
  for (uint32_t c = 0; c < 4; ++c) placement.add(0, state_ref(0, c, 10), c % 2 == 0 ? 1 : 2, false);
  std::vector<proto::PromptRolloutTask> tasks;
  for (uint32_t c = 0; c < 4; ++c) tasks.push_back(task(0, 1, c, 10, 50, state_ref(0, c, 10)));
  scheduler.add(tasks);
  const SchedulePlan plan = scheduler.plan({1, 2}, placement);
  EXPECT_TRUE(plan.moves.empty());
  for (const auto& b : plan.batches) {
    for (const auto& t : b.tasks) EXPECT_EQ(b.worker, t.task().candidate() % 2 == 0 ? 1 : 2);
  }
  EXPECT_EQ(scheduler.ready(), 0u);
}

TEST(Scheduler, PopularParentsMoveToBalanceAndEachMovesOncePerWorker) {
  StatePlacement placement;
  Scheduler scheduler(4, 8);
  placement.add(0, state_ref(0, 0, 10), 1, false);  // the tournament's favourite, on worker 1
  std::vector<proto::PromptRolloutTask> tasks;
  for (uint32_t c = 0; c < 8; ++c) tasks.push_back(task(0, 1, c, 10, 50, state_ref(0, 0, 10)));
  scheduler.add(tasks);
  const SchedulePlan plan = scheduler.plan({1, 2, 3, 4}, placement);
  EXPECT_EQ(sizes(plan), (std::map<int, size_t>{{1, 2}, {2, 2}, {3, 2}, {4, 2}}));
  ASSERT_EQ(plan.moves.size(), 3u);  // to workers 2, 3 and 4, once each
  std::set<int> targets;
  for (const auto& m : plan.moves) {
    EXPECT_EQ(m.from, 1);
    targets.insert(m.to);
  }
  EXPECT_EQ(targets, (std::set<int>{2, 3, 4}));
  EXPECT_EQ(placement.holders(0, state_ref(0, 0, 10)).size(), 4u);  // recorded for later rounds
}

TEST(Scheduler, AStateArrivingInARoundIsNotSentOnInTheSameRound) {
  StatePlacement placement;
  Scheduler scheduler(3, 1);
  placement.add(0, state_ref(0, 0, 10), 3, false);  // only the last worker holds it
  scheduler.add({task(0, 1, 0, 10, 50, state_ref(0, 0, 10)), task(0, 1, 1, 10, 50, state_ref(0, 0, 10)),
                 task(0, 1, 2, 10, 50, state_ref(0, 0, 10))});
  const SchedulePlan plan = scheduler.plan({1, 2}, placement);  // worker 3 is busy
  ASSERT_EQ(plan.moves.size(), 2u);
  for (const auto& m : plan.moves) EXPECT_EQ(m.from, 3) << "moved from a worker that receives it in this round";
}

TEST(Scheduler, LongestRolloutsFirstAndWorkSpreadOverAllWorkers) {
  StatePlacement placement;
  Scheduler scheduler(4, 8);
  std::vector<proto::PromptRolloutTask> tasks;
  for (uint32_t c = 0; c < 4; ++c) tasks.push_back(task(1, 0, c, 45, 50));  // short ones first in
  for (uint32_t c = 0; c < 4; ++c) tasks.push_back(task(2, 0, c, 0, 50));
  scheduler.add(tasks);
  // 8 ready tasks over 4 workers: 2 each; the 2 free workers get the 4 long rollouts.
  const SchedulePlan plan = scheduler.plan({1, 2}, placement);
  ASSERT_EQ(plan.batches.size(), 2u);
  for (const auto& b : plan.batches) {
    ASSERT_EQ(b.tasks.size(), 2u);
    for (const auto& t : b.tasks) EXPECT_EQ(t.task().start_step(), 0);
  }
  EXPECT_EQ(scheduler.ready(), 4u);
}

TEST(Scheduler, BatchesNeverExceedTheBatchSize) {
  StatePlacement placement;
  Scheduler scheduler(2, 3);
  std::vector<proto::PromptRolloutTask> tasks;
  for (uint32_t c = 0; c < 20; ++c) tasks.push_back(task(0, 0, c, 0, 50));
  scheduler.add(tasks);
  const SchedulePlan plan = scheduler.plan({1, 2}, placement);
  EXPECT_EQ(sizes(plan), (std::map<int, size_t>{{1, 3}, {2, 3}}));
  EXPECT_EQ(scheduler.ready(), 14u);
}

// A failed prompt's queued tasks are forgotten; the others still run.
TEST(Scheduler, DropForgetsOnlyThatPromptsReadyTasks) {
  StatePlacement placement;
  Scheduler scheduler(1, 8);
  std::vector<proto::PromptRolloutTask> tasks;
  for (uint32_t c = 0; c < 3; ++c) tasks.push_back(task(c % 2 == 0 ? 4 : 7, 0, c, 0, 50));
  scheduler.add(tasks);
  EXPECT_EQ(scheduler.drop(4), 2u);
  EXPECT_EQ(scheduler.drop(4), 0u);
  const SchedulePlan plan = scheduler.plan({1}, placement);
  ASSERT_EQ(plan.batches.size(), 1u);
  ASSERT_EQ(plan.batches[0].tasks.size(), 1u);
  EXPECT_EQ(plan.batches[0].tasks[0].prompt(), 7u);
}

TEST(StatePlacement, ReleaseKeepsOnlyLiveStatesOfThatPrompt) {
  StatePlacement p;
  p.add(0, state_ref(0, 0, 10), 1, false);
  p.add(0, state_ref(0, 1, 10), 2, true);
  p.add(1, state_ref(0, 0, 10), 1, false);
  p.release_all_but(0, {state_ref(0, 1, 10)});
  EXPECT_TRUE(p.holders(0, state_ref(0, 0, 10)).empty());
  EXPECT_EQ(p.holders(0, state_ref(0, 1, 10)), std::vector<int>{2});
  EXPECT_TRUE(p.has_x0(0, state_ref(0, 1, 10)));
  EXPECT_EQ(p.holders(1, state_ref(0, 0, 10)), std::vector<int>{1});
  p.release_prompt(1);
  EXPECT_EQ(p.size(), 1u);
}

}  // namespace
}  // namespace evosearch
