// Coordinators (the evosearch program) sharing a Redis job through fault proxies
// (tests/fault_proxy.h), one proxy per coordinator: every link slow, connections dropped over and
// over, and one coordinator cut off (a blackhole) for longer than its lease while the other runs.
// Each test has a private redis-server (tests/redis_test_server.h), recorded through MONITOR
// (tests/redis_monitor.h); after the job the history checker (tests/job_history.h) replays it:
// every prompt has exactly one outcome and no coordinator wrote after its lease was taken; and
// the answers are an uninterrupted single run's.
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>

#include <gtest/gtest.h>

#include "child_process.h"
#include "distributed_jobs.h"
#include "fault_proxy.h"
#include "job_history.h"
#include "redis_monitor.h"
#include "redis_test_server.h"
#include "run_evosearch.h"
#include "skip_or_fail.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;
using testing_support::FaultProxy;
using testing_support::read_text;
using testing_support::start_logged;
using testing_support::wait_exit;

constexpr double kLeaseSeconds = 2;

// An 8-prompt job on the slow tiny bundle; `job_store` empty keeps it in the output folder.
std::string make_job(const std::string& dir, const std::string& name, const std::string& job_store) {
  testing_support::job_bundle(true).write(dir + "/bundle");
  std::ofstream(dir + "/suite.txt") << "a bag\na coat\na dress\na sandal\na top\na skirt\na boot\na shirt\n";
  std::ofstream(dir + "/job.json") << R"({"name": ")" << name << R"(", "bundle": "bundle", "prompts": "suite.txt",
    "output": "out", "seed": 9, "sampler": {"steps": 24}, "batch_size": 4, "prompts_in_flight": 2,
    "job_store": ")" << job_store << R"(", "search": {"method": "evosearch", "evolution_steps": [0, 6, 12, 18],
    "population": [4, 3, 3, 3, 3]}})";
  return dir + "/job.json";
}

class Partitions : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    base_ = testing_support::fresh_dir("partitions-" + test);
    fs::create_directories(base_ + "/redis");
    port_ = testing_support::free_port();
    server_ = std::make_unique<testing_support::TestRedisServer>(base_ + "/redis", port_);
    std::string error;
    if (!server_->start(error)) EVOSEARCH_SKIP_UNLESS_CI("redis-server", "cannot start a private one: " << error);
    monitor_ = std::make_unique<testing_support::RedisMonitor>(port_);
    ASSERT_EQ(monitor_->error(), "");
    name_ = "partitions-" + test;
    spec_ = make_job(base_ + "/shared", name_, server_->url(""));
  }

  // The uninterrupted single run's spec, run once for the suite.
  static const std::string& reference() {
    static const std::string spec = [] {
      const std::string dir = testing_support::fresh_dir("partitions-reference");
      const std::string s = make_job(dir, "reference", "");
      const auto r = testing_support::run_evosearch("run " + s + " --threads 1");
      EXPECT_EQ(r.code, 0) << r.output;
      return s;
    }();
    return spec;
  }

  // A coordinator a failed assertion left running (never waited for) is killed.
  void TearDown() override {
    for (const pid_t pid : started_) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) != 0) continue;  // reaped already, or just now
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
  }

  pid_t start(const FaultProxy& proxy, const std::string& log) {
    return started_.emplace_back(start_logged(std::string(EVOSEARCH_BINARY) + " run " + spec_ + " --threads 1 --lease-seconds " +
                            std::to_string(kLeaseSeconds) + " --job-store " + proxy.redis_url(),
                        base_ + "/" + log));
  }

  std::unique_ptr<JobStore> store() {
    auto s = open_job_store(server_->url(""), base_ + "/shared/out", name_);
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // The history check and the answers, after the job.
  testing_support::JobHistory check(const std::string& what) {
    testing_support::expect_same_answers(spec_, reference(), what);
    auto s = store();
    if (!s) return {};
    const std::vector<std::string> lines = monitor_->lines();
    EXPECT_EQ(monitor_->error(), "") << what;
    testing_support::JobHistory history = testing_support::check_job_history(lines, name_, s.get());
    std::string problems;
    for (const std::string& p : history.problems) problems += "\n  " + p;
    EXPECT_TRUE(history.problems.empty()) << what << ": the history breaks these rules:" << problems;
    EXPECT_GE(history.claims, 8) << what;
    return history;
  }

  // Waits until a prompt runs under the coordinator with this pid with at least one generation
  // committed and two still to run (time enough to cut the coordinator off before it finishes
  // the prompt); its index, or -1.
  int prompt_checkpointed_by(JobStore& s, pid_t pid, double seconds) {
    const auto begin = std::chrono::steady_clock::now();
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count() < seconds) {
      auto prompts = s.prompts();
      for (size_t i = 0; prompts.ok() && i < prompts->size(); ++i) {
        const proto::PromptRecord& p = (*prompts)[i];
        if (p.status() == proto::PROMPT_RUNNING && p.generation() >= 1 && p.generation() + 2 <= p.generation_count() &&
            p.owner().find(":" + std::to_string(pid) + ":") != std::string::npos) {
          return static_cast<int>(i);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

  std::string base_, name_, spec_;
  int port_ = 0;
  std::vector<pid_t> started_;  // the coordinators this test started
  std::unique_ptr<testing_support::TestRedisServer> server_;
  std::unique_ptr<testing_support::RedisMonitor> monitor_;  // declared after server_: stops first
};

bool owned_by(const std::string& owner, pid_t pid) { return owner.find(":" + std::to_string(pid) + ":") != std::string::npos; }

TEST_F(Partitions, EveryLinkSlowed) {
  FaultProxy a(port_), b(port_);
  ASSERT_GT(a.port(), 0) << a.error();
  ASSERT_GT(b.port(), 0) << b.error();
  a.delay(std::chrono::milliseconds(20), std::chrono::milliseconds(80));
  b.delay(std::chrono::milliseconds(20), std::chrono::milliseconds(80));
  const pid_t first = start(a, "a.log"), second = start(b, "b.log");
  EXPECT_EQ(wait_exit(first, 300), 0) << read_text(base_ + "/a.log");
  EXPECT_EQ(wait_exit(second, 300), 0) << read_text(base_ + "/b.log");
  check("every store call delayed 20-80 ms each way");
  EXPECT_GT(a.bytes(), 0);
  EXPECT_GT(b.bytes(), 0);
}

TEST_F(Partitions, ConnectionsDroppedOverAndOver) {
  FaultProxy a(port_), b(port_);
  ASSERT_GT(a.port(), 0) << a.error();
  ASSERT_GT(b.port(), 0) << b.error();
  const pid_t first = start(a, "a.log"), second = start(b, "b.log");
  std::atomic<bool> done{false};
  std::thread dropper([&] {
    while (!done) {  // each proxy's connections closed every 300 ms, half a period apart
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
      a.drop_connections();
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
      b.drop_connections();
    }
  });
  const int first_code = wait_exit(first, 300), second_code = wait_exit(second, 300);
  done = true;
  dropper.join();
  const std::string logs = read_text(base_ + "/a.log") + read_text(base_ + "/b.log");
  EXPECT_EQ(first_code, 0) << logs;
  EXPECT_EQ(second_code, 0) << logs;
  check("connections dropped every 300 ms");
  EXPECT_GT(a.dropped() + b.dropped(), 0);
  EXPECT_NE(logs.find("out of reach"), std::string::npos) << "no store call met a dropped connection\n" << logs;
}

TEST_F(Partitions, ACoordinatorCutOffPastItsLeaseWritesNothingAfterItsPromptsAreTaken) {
  FaultProxy a(port_), b(port_);
  ASSERT_GT(a.port(), 0) << a.error();
  ASSERT_GT(b.port(), 0) << b.error();
  // The victim alone until it has checkpointed a prompt with generations left: started together,
  // the other could run the whole 8-prompt job (about half a second on the tiny bundle) while the
  // victim was still starting under a loaded machine, and the test waited 120 s for a checkpoint
  // that could no longer come (sessions 9 and 10: every prompt done before the victim's first line).
  const pid_t victim = start(a, "victim.log");
  auto s = store();
  ASSERT_TRUE(s);
  const int prompt = prompt_checkpointed_by(*s, victim, 120);
  ASSERT_GE(prompt, 0) << testing_support::where_blocked(victim) << "\nvictim.log:\n" << read_text(base_ + "/victim.log");
  const pid_t other = start(b, "other.log");
  a.blackhole();
  // Until the other coordinator has taken the victim's prompt over (its lease expired).
  bool taken = false;
  for (int i = 0; i < 6000 && !taken; ++i) {
    auto prompts = s->prompts();
    taken = prompts.ok() && (*prompts)[prompt].attempts() >= 2;
    if (!taken) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(taken) << read_text(base_ + "/other.log");
  // Healed at once, while the other coordinator runs the prompt: what the victim sent meanwhile
  // (a renewal at least: it renews several times a lease) reaches the server under a taken lease.
  a.pass();
  const int victim_code = wait_exit(victim, 300);
  EXPECT_EQ(wait_exit(other, 300), 0) << read_text(base_ + "/other.log");
  const std::string victim_log = read_text(base_ + "/victim.log");
  // It recovers (its calls were held, not failed, for less than the 10 s command timeout); exit
  // 75 (the store out of reach past --store-timeout) would be the documented way out otherwise.
  EXPECT_EQ(victim_code, 0) << victim_log;
  EXPECT_NE(victim_log.find("lease was lost"), std::string::npos) << victim_log;
  const testing_support::JobHistory history = check("one of two coordinators cut off past its lease");
  std::string victim_owner;
  for (const std::string& owner : history.taken_from) {
    if (owned_by(owner, victim)) victim_owner = owner;
  }
  ASSERT_FALSE(victim_owner.empty()) << "no prompt was taken from the cut-off coordinator";
  EXPECT_GE(history.stale_calls.count(victim_owner) ? history.stale_calls.at(victim_owner) : 0, 1)
      << "no call of the cut-off coordinator reached the server after the takeover";
}

// The checker itself, on what the store's scripts run: a takeover after a lease expired, the
// old holder's commit refused, passes; the same history with a checkpoint written by that refused
// call (a fence that did not hold) does not.
TEST_F(Partitions, TheHistoryCheckerCatchesAWriteAfterATakeover) {
  auto s = store();
  ASSERT_TRUE(s);
  proto::JobRecord record;
  record.set_name(name_);
  ASSERT_TRUE(s->open(record, {"a bag"}, true).ok());
  auto first = s->claim("host:1:a", 1, 0.001);
  ASSERT_TRUE(first.ok() && first->size() == 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto second = s->claim("host:2:b", 1, 60);
  ASSERT_TRUE(second.ok() && second->size() == 1u);
  proto::CheckpointRecord checkpoint;
  checkpoint.set_prompt(0);
  checkpoint.set_generation(1);
  EXPECT_EQ(s->commit_checkpoint((*first)[0], checkpoint).code(), StatusCode::kFailedPrecondition);
  proto::PromptOutcome outcome;
  outcome.set_index(0);
  outcome.set_token((*second)[0].token());
  ASSERT_TRUE(s->save_outcome((*second)[0], outcome).ok());
  std::vector<std::string> lines = monitor_->lines();
  ASSERT_EQ(monitor_->error(), "");

  testing_support::JobHistory history = testing_support::check_job_history(lines, name_, s.get());
  EXPECT_TRUE(history.problems.empty()) << history.problems.front();
  EXPECT_EQ(history.claims, 2);
  EXPECT_EQ(history.takeovers, 1);
  EXPECT_EQ(history.taken_from.count("host:1:a"), 1u);
  EXPECT_EQ(history.stale_calls["host:1:a"], 1);

  // The refused commit's call, followed by the write a broken fence would have let through.
  const RedisJobKeys keys = redis_job_keys(name_);
  auto stale = std::find_if(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("\"0\" \"host:1:a\" \"1\"") != std::string::npos;
  });
  ASSERT_NE(stale, lines.end());
  lines.insert(stale + 1, "1.0 [0 lua] \"HSET\" \"" + keys.checkpoints + "\" \"0\" \"x\"");
  history = testing_support::check_job_history(lines, name_, nullptr);
  ASSERT_EQ(history.problems.size(), 1u);
  EXPECT_NE(history.problems.front().find("a checkpoint record of prompt 0 not under its latest claim (host:2:b token 2)"),
            std::string::npos)
      << history.problems.front();
}

}  // namespace
}  // namespace evosearch
