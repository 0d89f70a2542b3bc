// Several coordinators sharing one job through Redis, as Slurm array tasks do: racing
// coordinators search each prompt exactly once and give the answers of a single run; a killed
// coordinator's prompt is finished by another from its checkpoint; a coordinator that wakes up
// after its lease expired writes nothing; a restarted redis-server is ridden out; a Redis gone
// for longer than --store-timeout stops the run with exit 75. Label redis: the shared test
// server is at EVOSEARCH_TEST_REDIS (default redis://127.0.0.1:6391/0, cluster/redis-local.sh),
// and the restart tests run a private redis-server of their own.
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "child_process.h"
#include "distributed_jobs.h"
#include "jobs/job_store.h"
#include "redis_test_server.h"
#include "run_evosearch.h"
#include "skip_or_fail.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;
using testing_support::expect_same_answers;
using testing_support::read_text;
using testing_support::start_logged;
using testing_support::wait_exit;

const char* kSearch = R"({"method": "evosearch", "evolution_steps": [0, 6, 12, 18], "population": [4, 3, 3, 3, 3]})";

std::string shared_redis() {
  const char* url = std::getenv("EVOSEARCH_TEST_REDIS");
  return url && *url ? url : "redis://127.0.0.1:6391/0";
}

// A 12-prompt job on the slow tiny bundle; `job_store` empty keeps it in the output folder.
std::string make_job(const std::string& dir, const std::string& name, const std::string& job_store) {
  testing_support::job_bundle(true).write(dir + "/bundle");
  std::ofstream suite(dir + "/suite.txt");
  for (const char* item : {"bag", "coat", "dress", "sandal", "top", "skirt", "boot", "shirt", "sneaker", "pullover",
                           "trousers", "tote"}) {
    suite << "a " << item << "\n";
  }
  suite.close();
  std::ofstream(dir + "/job.json") << R"({"name": ")" << name << R"(", "bundle": "bundle", "prompts": "suite.txt",
    "output": "out", "seed": 9, "sampler": {"steps": 24}, "batch_size": 4, "prompts_in_flight": 2,
    "job_store": ")" << job_store << R"(", "search": )" << kSearch << "}";
  return dir + "/job.json";
}

std::string run_command(const std::string& spec, const std::string& extra = "", int lease_seconds = 2) {
  return std::string(EVOSEARCH_BINARY) + " run " + spec + " --threads 1 --lease-seconds " + std::to_string(lease_seconds) +
         " " + extra;
}

class RedisJobs : public ::testing::Test {
 protected:
  void SetUp() override {
    auto probe = open_job_store(shared_redis(), "", "probe");
    if (!probe.ok() || !(*probe)->outputs().ok()) {
      EVOSEARCH_SKIP_UNLESS_CI("Redis", "nothing answers at " << shared_redis()
                                            << "; start one with `bash cluster/redis-local.sh` or set EVOSEARCH_TEST_REDIS");
    }
    base_ = testing_support::fresh_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    name_ = "test-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    reference_ = make_job(base_ + "/reference", name_ + "-reference", "");
    const auto r = testing_support::run_evosearch("run " + reference_ + " --threads 1");
    ASSERT_EQ(r.code, 0) << r.output;
  }

  std::unique_ptr<JobStore> store(const std::string& url, const std::string& spec) {
    auto s = open_job_store(url, (fs::path(spec).parent_path() / "out").string(), name_);
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // Waits until some prompt's record satisfies `wanted`; returns its index, or -1 after `seconds`.
  static int wait_for_prompt(JobStore& store, double seconds, const std::function<bool(const proto::PromptRecord&)>& wanted) {
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
      auto prompts = store.prompts();
      if (prompts.ok()) {
        for (const auto& p : *prompts) {
          if (wanted(p)) return static_cast<int>(p.prompt());
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

  static bool owned_by(const proto::PromptRecord& p, pid_t pid) {
    return p.owner().find(":" + std::to_string(pid) + ":") != std::string::npos;
  }

  // Waits until a prompt runs under the coordinator with this pid with at least one generation
  // committed; returns its index, or -1.
  int prompt_checkpointed_by(JobStore& store, pid_t pid, double seconds) {
    return wait_for_prompt(store, seconds, [pid](const proto::PromptRecord& p) {
      return p.status() == proto::PROMPT_RUNNING && p.generation() >= 1 && owned_by(p, pid);
    });
  }

  // Waits until a prompt is running or done under a coordinator other than the one with this pid.
  bool prompt_claimed_by_another(JobStore& store, pid_t pid, double seconds) {
    return wait_for_prompt(store, seconds, [pid](const proto::PromptRecord& p) {
             return (p.status() == proto::PROMPT_RUNNING || p.status() == proto::PROMPT_DONE) && !p.owner().empty() &&
                    !owned_by(p, pid);
           }) >= 0;
  }

  std::string base_, name_, reference_;
};

TEST_F(RedisJobs, ThreeCoordinatorsSearchEachPromptOnceWithTheAnswersOfOneRun) {
  const std::string spec = make_job(base_ + "/shared", name_, shared_redis());
  auto log = [&](int i) { return base_ + "/coordinator" + std::to_string(i) + ".log"; };
  // Started together on a loaded machine, the first coordinator up once searched all 12 prompts
  // before the others had claimed one. So the first is paused (SIGSTOP) once it has a prompt
  // checkpointed, holding its two prompts under leases that outlast the pause, and resumed once
  // another coordinator has claimed a prompt: the work is shared whatever the machine's load.
  std::vector<pid_t> coordinators{start_logged(run_command(spec, "", 60), log(0))};
  auto s = store(shared_redis(), spec);
  ASSERT_TRUE(s);
  ASSERT_GE(prompt_checkpointed_by(*s, coordinators[0], 120), 0) << read_text(log(0));
  kill(-coordinators[0], SIGSTOP);
  for (int i = 1; i < 3; ++i) coordinators.push_back(start_logged(run_command(spec, "", 60), log(i)));
  const bool claimed_by_another = prompt_claimed_by_another(*s, coordinators[0], 120);
  kill(-coordinators[0], SIGCONT);
  ASSERT_TRUE(claimed_by_another) << read_text(log(1)) << read_text(log(2));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(wait_exit(coordinators[i], 300), 0) << read_text(log(i));
  }
  expect_same_answers(spec, reference_, "three coordinators");
  auto prompts = s->prompts();
  ASSERT_TRUE(prompts.ok());
  ASSERT_EQ(prompts->size(), 12u);
  std::set<std::string> owners;
  for (const auto& p : *prompts) {
    EXPECT_EQ(p.status(), proto::PROMPT_DONE) << p.prompt();
    EXPECT_EQ(p.attempts(), 1u) << "prompt " << p.prompt() << " was claimed more than once";
    owners.insert(p.owner());
  }
  EXPECT_GE(owners.size(), 2u) << "the coordinators should have shared the work";
}

TEST_F(RedisJobs, AKilledCoordinatorsPromptIsFinishedByAnotherFromItsCheckpoint) {
  const std::string spec = make_job(base_ + "/shared", name_, shared_redis());
  const pid_t victim = start_logged(run_command(spec), base_ + "/victim.log");
  auto s = store(shared_redis(), spec);
  ASSERT_TRUE(s);
  const int prompt = prompt_checkpointed_by(*s, victim, 120);
  ASSERT_GE(prompt, 0) << read_text(base_ + "/victim.log");
  kill(-victim, SIGKILL);
  wait_exit(victim, 10);
  const pid_t survivor = start_logged(run_command(spec), base_ + "/survivor.log");
  ASSERT_EQ(wait_exit(survivor, 300), 0) << read_text(base_ + "/survivor.log");
  expect_same_answers(spec, reference_, "after a coordinator was killed");
  auto prompts = s->prompts();
  ASSERT_TRUE(prompts.ok());
  const proto::PromptRecord& p = (*prompts)[prompt];
  EXPECT_EQ(p.status(), proto::PROMPT_DONE);
  EXPECT_EQ(p.attempts(), 2u) << "claimed by the killed coordinator, then by the survivor";
  EXPECT_NE(read_text(base_ + "/survivor.log").find("resuming at generation"), std::string::npos)
      << "the survivor continued from the checkpoint\n" << read_text(base_ + "/survivor.log");
}

TEST_F(RedisJobs, ACoordinatorThatWakesUpAfterItsLeaseExpiredWritesNothing) {
  const std::string spec = make_job(base_ + "/shared", name_, shared_redis());
  const pid_t sleeper = start_logged(run_command(spec), base_ + "/sleeper.log");
  auto s = store(shared_redis(), spec);
  ASSERT_TRUE(s);
  const int prompt = prompt_checkpointed_by(*s, sleeper, 120);
  ASSERT_GE(prompt, 0) << read_text(base_ + "/sleeper.log");
  kill(-sleeper, SIGSTOP);  // alive but silent: its 2 s leases expire
  const pid_t other = start_logged(run_command(spec), base_ + "/other.log");
  // Until the other coordinator has taken over the sleeper's prompt (a new token).
  uint64_t token = 0;
  for (int i = 0; i < 3000; ++i) {
    auto prompts = s->prompts();
    if (prompts.ok() && (*prompts)[prompt].attempts() >= 2) {
      token = (*prompts)[prompt].token();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GE(token, 2u) << read_text(base_ + "/other.log");
  kill(-sleeper, SIGCONT);
  EXPECT_EQ(wait_exit(sleeper, 300), 0) << read_text(base_ + "/sleeper.log");
  EXPECT_EQ(wait_exit(other, 300), 0) << read_text(base_ + "/other.log");
  EXPECT_NE(read_text(base_ + "/sleeper.log").find("lease was lost"), std::string::npos) << read_text(base_ + "/sleeper.log");
  expect_same_answers(spec, reference_, "after a stale coordinator woke up");
  auto prompts = s->prompts();
  ASSERT_TRUE(prompts.ok());
  for (const auto& p : *prompts) EXPECT_EQ(p.status(), proto::PROMPT_DONE) << p.prompt();
}

// A private redis-server (append-only) the test stops and starts under a running coordinator.
class PrivateRedisJob : public RedisJobs {
 protected:
  void SetUp() override {
    RedisJobs::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    fs::create_directories(base_ + "/redis");
    server_ = std::make_unique<testing_support::TestRedisServer>(base_ + "/redis", testing_support::free_port());
    std::string error;
    if (!server_->start(error)) EVOSEARCH_SKIP_UNLESS_CI("redis-server", "cannot start a private one: " << error);
  }
  std::unique_ptr<testing_support::TestRedisServer> server_;
};

TEST_F(PrivateRedisJob, ARestartedRedisIsRiddenOutAndNothingIsLostOrDuplicated) {
  const std::string url = server_->url("");
  const std::string spec = make_job(base_ + "/shared", name_, url);
  const pid_t coordinator = start_logged(run_command(spec, "--store-timeout 60"), base_ + "/coordinator.log");
  {
    auto s = store(url, spec);
    ASSERT_TRUE(s);
    ASSERT_GE(prompt_checkpointed_by(*s, coordinator, 120), 0) << read_text(base_ + "/coordinator.log");
  }
  server_->stop();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  std::string error;
  ASSERT_TRUE(server_->start(error)) << error;
  ASSERT_EQ(wait_exit(coordinator, 300), 0) << read_text(base_ + "/coordinator.log");
  EXPECT_NE(read_text(base_ + "/coordinator.log").find("out of reach"), std::string::npos);
  expect_same_answers(spec, reference_, "across a Redis restart");
  auto s = store(url, spec);
  ASSERT_TRUE(s);
  auto prompts = s->prompts();
  ASSERT_TRUE(prompts.ok());
  for (const auto& p : *prompts) {
    EXPECT_EQ(p.status(), proto::PROMPT_DONE) << p.prompt();
    EXPECT_LE(p.attempts(), 2u) << p.prompt();
  }
}

TEST_F(PrivateRedisJob, RedisGoneLongerThanTheTimeoutStopsWithExit75) {
  const std::string url = server_->url("");
  const std::string spec = make_job(base_ + "/shared", name_, url);
  const pid_t coordinator = start_logged(run_command(spec, "--store-timeout 3"), base_ + "/coordinator.log");
  {
    auto s = store(url, spec);
    ASSERT_TRUE(s);
    ASSERT_GE(prompt_checkpointed_by(*s, coordinator, 120), 0) << read_text(base_ + "/coordinator.log");
  }
  server_->stop();
  double took = 0;
  const int code = wait_exit(coordinator, 120, &took);
  const std::string log = read_text(base_ + "/coordinator.log");
  EXPECT_EQ(code, 75) << log;
  EXPECT_NE(log.find("out of reach for"), std::string::npos) << log;
  EXPECT_NE(log.find("requeue"), std::string::npos) << log;
}

}  // namespace
}  // namespace evosearch
