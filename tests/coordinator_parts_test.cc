// The distributed coordinator's parts, each on its own: worker health (dead, silent, stuck
// workers) and request tracking.
#include <chrono>
#include <set>

#include <unistd.h>

#include <gtest/gtest.h>

#include "coordinator/reply_tracker.h"
#include "coordinator/worker_health.h"

namespace evosearch {
namespace {

using Clock = WorkerHealth::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

proto::WorkerReport hello(int pid, const std::string& host) {
  proto::WorkerReport r;
  r.mutable_hello()->set_pid(pid);
  r.mutable_hello()->set_host(host);
  r.mutable_hello()->set_latent_bytes(64);
  return r;
}

proto::WorkerReport heartbeat(int64_t steps) {
  proto::WorkerReport r;
  r.mutable_heartbeat()->set_steps(steps);
  return r;
}

std::string this_host() {
  char name[256] = {0};
  gethostname(name, sizeof name - 1);
  return name;
}

TEST(WorkerHealth, SilenceLongerThanTheTimeoutNamesTheRank) {
  WorkerHealth health({1, 2}, 10, [](int) { return true; });
  const Clock::time_point t0 = Clock::now();
  health.start(t0);
  health.heard(1, hello(101, "elsewhere"), t0);
  health.heard(2, hello(102, "elsewhere"), t0);
  EXPECT_TRUE(health.check(t0 + seconds(5)).ok());
  health.heard(1, heartbeat(0), t0 + seconds(9));
  const Status s = health.check(t0 + seconds(11));
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(s.message().find("rank 2 (pid 102 on elsewhere) has not answered"), std::string::npos) << s.message();
}

TEST(WorkerHealth, ABusyWorkerWhoseStepsDoNotMoveIsStuck) {
  WorkerHealth health({1}, 10, [](int) { return true; });
  const Clock::time_point t0 = Clock::now();
  health.start(t0);
  health.heard(1, hello(7, "elsewhere"), t0);
  health.batch_started(1, 4, t0);
  // Heartbeats keep coming, so it is not silent; the step count moves until 6 s, then stops.
  for (int s = 1; s <= 20; ++s) health.heard(1, heartbeat(std::min(s, 6)), t0 + seconds(s));
  const Status stuck = health.check(t0 + seconds(20));
  EXPECT_EQ(stuck.code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(stuck.message().find("no progress on its batch of 4 tasks"), std::string::npos) << stuck.message();
  // An idle worker with a still step count is fine.
  WorkerHealth idle({1}, 10, [](int) { return true; });
  idle.start(t0);
  for (int s = 1; s <= 20; ++s) idle.heard(1, heartbeat(6), t0 + seconds(s));
  EXPECT_TRUE(idle.check(t0 + seconds(20)).ok());
}

TEST(WorkerHealth, AProcessOfThisHostThatIsGoneHasDied) {
  std::set<int> alive{11};
  WorkerHealth health({1, 2}, 300, [&](int pid) { return alive.count(pid) > 0; });
  const Clock::time_point t0 = Clock::now();
  health.start(t0);
  health.heard(1, hello(11, this_host()), t0);
  health.heard(2, hello(12, "another-host"), t0);  // not looked up: pids of other hosts mean nothing here
  EXPECT_TRUE(health.check(t0 + seconds(1)).ok());
  alive.clear();
  const Status s = health.check(t0 + seconds(2));
  EXPECT_EQ(s.code(), StatusCode::kAborted);
  EXPECT_NE(s.message().find("rank 1 (pid 11"), std::string::npos) << s.message();
}

TEST(WorkerHealth, ChecksAtMostEveryFifthOfASecondAndKnowsWhoSaidHello) {
  WorkerHealth health({1, 2}, 1, [](int) { return true; });
  const Clock::time_point t0 = Clock::now();
  health.start(t0);
  EXPECT_EQ(health.missing(), (std::vector<int>{1, 2}));
  health.heard(2, hello(5, "x"), t0);
  EXPECT_EQ(health.missing(), (std::vector<int>{1}));
  EXPECT_TRUE(health.said_hello(2));
  EXPECT_TRUE(health.check(t0 + milliseconds(900)).ok());
  EXPECT_TRUE(health.check(t0 + milliseconds(1050)).ok());  // within 0.2 s of the last check: skipped
  EXPECT_FALSE(health.check(t0 + milliseconds(1150)).ok());  // rank 1 silent for 1.15 s > 1 s
}

TEST(ReplyTracker, TheWaiterOwnsItsRequest) {
  ReplyTracker tracker;
  proto::WorkerReport reply;
  reply.mutable_render()->set_width(3);
  uint64_t abandoned_id = 0;
  {
    ReplyTracker::Pending pending = tracker.open();
    abandoned_id = pending.id();
    EXPECT_FALSE(pending.take().has_value());
    EXPECT_EQ(tracker.waiting(), 1u);
  }
  EXPECT_EQ(tracker.waiting(), 0u);
  EXPECT_FALSE(tracker.deliver(abandoned_id, reply)) << "a reply nobody waits for is dropped";
  ReplyTracker::Pending pending = tracker.open();
  EXPECT_NE(pending.id(), abandoned_id);
  EXPECT_TRUE(tracker.deliver(pending.id(), reply));
  const std::optional<proto::WorkerReport> got = pending.take();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->render().width(), 3);
  EXPECT_FALSE(pending.take().has_value()) << "taken once";
}

}  // namespace
}  // namespace evosearch
