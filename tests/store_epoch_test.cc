// A job store that goes back in time (jobs/store_epoch.h), on a private redis-server the test
// wipes or rolls back: a Redis restarted empty, or from an older copy of its append-only file,
// under a partly done job stops the next run with a message naming what was lost and --restart,
// writing nothing and using no fencing token twice; --restart then redoes the job; a resume on
// an intact store is not disturbed. Label redis.
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "child_process.h"
#include "common/atomic_file.h"
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

// A 12-prompt job on the slow tiny bundle (`work`: how slow; the answers do not depend on it);
// `job_store` empty keeps it in the output folder.
std::string make_job(const std::string& dir, const std::string& name, const std::string& job_store, int work = 200) {
  testing_support::job_bundle(true, work).write(dir + "/bundle");
  std::ofstream suite(dir + "/suite.txt");
  for (const char* item : {"bag", "coat", "dress", "sandal", "top", "skirt", "boot", "shirt", "sneaker", "pullover",
                           "trousers", "tote"}) {
    suite << "a " << item << "\n";
  }
  suite.close();
  std::ofstream(dir + "/job.json") << R"({"name": ")" << name << R"(", "bundle": "bundle", "prompts": "suite.txt",
    "output": "out", "seed": 9, "sampler": {"steps": 24}, "batch_size": 4, "prompts_in_flight": 2,
    "job_store": ")" << job_store << R"(", "search": {"method": "evosearch", "evolution_steps": [0, 6, 12, 18],
    "population": [4, 3, 3, 3, 3]}})";
  return dir + "/job.json";
}

std::string run_command(const std::string& spec, const std::string& extra = "") {
  return std::string(EVOSEARCH_BINARY) + " run " + spec + " --threads 1 --lease-seconds 2 " + extra;
}

// Every file under `folder` with its bytes: "nothing written" is this map unchanged.
std::map<std::string, std::string> files_under(const std::string& folder) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(folder)) {
    if (!entry.is_regular_file()) continue;
    auto bytes = read_file(entry.path().string());
    files[entry.path().lexically_relative(folder).generic_string()] = bytes.ok() ? *bytes : "unreadable";
  }
  return files;
}

// The files added, removed or changed between two files_under() maps.
std::vector<std::string> changed(const std::map<std::string, std::string>& before,
                                 const std::map<std::string, std::string>& after) {
  std::vector<std::string> names;
  for (const auto& [name, bytes] : after) {
    const auto was = before.find(name);
    if (was == before.end()) names.push_back("+" + name);
    else if (was->second != bytes) names.push_back("~" + name);
  }
  for (const auto& [name, bytes] : before) {
    if (!after.count(name)) names.push_back("-" + name);
  }
  return names;
}

size_t done_count(const std::vector<proto::PromptRecord>& prompts) {
  size_t done = 0;
  for (const auto& p : prompts) done += p.status() == proto::PROMPT_DONE;
  return done;
}

class StoreEpoch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    reference_dir_ = testing_support::fresh_dir("StoreEpochReference");
    reference_ = make_job(reference_dir_, "reference", "");
    const auto r = testing_support::run_evosearch("run " + reference_ + " --threads 1");
    reference_ok_ = r.code == 0;
    if (!reference_ok_) std::cerr << r.output;
  }

  void SetUp() override {
    ASSERT_TRUE(reference_ok_) << "the reference job failed";
    base_ = testing_support::fresh_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    redis_dir_ = base_ + "/redis";
    fs::create_directories(redis_dir_);
    server_ = std::make_unique<testing_support::TestRedisServer>(redis_dir_, testing_support::free_port());
    std::string error;
    if (!server_->start(error)) EVOSEARCH_SKIP_UNLESS_CI("redis-server", "cannot start a private one: " << error);
    url_ = server_->url("");
    spec_ = make_job(base_ + "/job", "epoch", url_, 400);  // slower than the reference: it outlasts the test's steps
    out_ = base_ + "/job/out";
  }

  std::unique_ptr<JobStore> store() {
    auto s = open_job_store(url_, out_, "epoch");
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return s.ok() ? std::move(*s) : nullptr;
  }

  std::vector<proto::PromptRecord> prompts() {
    auto s = store();
    if (!s) return {};
    auto p = s->prompts();
    return p.ok() ? *p : std::vector<proto::PromptRecord>{};
  }

  // Waits until the store has at least `done` prompts done; false after `seconds`.
  bool wait_done(size_t done, double seconds) {
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
      if (done_count(prompts()) >= done) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // A job with at least `done` prompts finished, stopped by SIGTERM (exit 75, checkpointed).
  void run_partly(size_t done) {
    const pid_t coordinator = start_logged(run_command(spec_), base_ + "/first.log");
    ASSERT_TRUE(wait_done(done, 120)) << read_text(base_ + "/first.log");
    kill(-coordinator, SIGTERM);
    ASSERT_EQ(wait_exit(coordinator, 120), 75) << read_text(base_ + "/first.log");
  }

  // Redis's data as it is now, stopped cleanly (its append-only file flushed), then started again.
  void copy_redis_data(const std::string& to) {
    server_->stop();
    fs::copy(redis_dir_ + "/appendonlydir", to, fs::copy_options::recursive);
    std::string error;
    ASSERT_TRUE(server_->start(error)) << error;
  }

  // Restarts Redis with the data in `from` (empty: none, as a server without persistence).
  void restart_redis_with(const std::string& from) {
    server_->stop();
    fs::remove_all(redis_dir_ + "/appendonlydir");
    if (!from.empty()) fs::copy(from, redis_dir_ + "/appendonlydir", fs::copy_options::recursive);
    std::string error;
    ASSERT_TRUE(server_->start(error)) << error;
  }

  static std::string reference_dir_, reference_;
  static bool reference_ok_;
  std::string base_, redis_dir_, url_, spec_, out_;
  std::unique_ptr<testing_support::TestRedisServer> server_;
};

std::string StoreEpoch::reference_dir_, StoreEpoch::reference_;
bool StoreEpoch::reference_ok_ = false;

TEST_F(StoreEpoch, ARedisRestartedEmptyStopsTheRunUntilRestart) {
  ASSERT_NO_FATAL_FAILURE(run_partly(2));
  const auto before = files_under(out_);
  ASSERT_NO_FATAL_FAILURE(restart_redis_with(""));

  const auto r = testing_support::run_evosearch("run " + spec_ + " --threads 1 --lease-seconds 2");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("holds no job"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("the store lost the job"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--restart"), std::string::npos) << r.output;
  EXPECT_EQ(changed(before, files_under(out_)), std::vector<std::string>{}) << "the refused run wrote or removed files";
  auto s = store();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->job().status().code(), StatusCode::kNotFound) << "the refused run created the job anew in Redis";

  const auto again = testing_support::run_evosearch("run " + spec_ + " --threads 1 --lease-seconds 2 --restart");
  ASSERT_EQ(again.code, 0) << again.output;
  expect_same_answers(spec_, reference_, "--restart after Redis lost the job");
}

TEST_F(StoreEpoch, ARedisRolledBackToAnOlderSnapshotIsCaughtAndNoTokenIsUsedTwice) {
  const pid_t coordinator = start_logged(run_command(spec_, "--store-timeout 60"), base_ + "/first.log");
  ASSERT_TRUE(wait_done(1, 120)) << read_text(base_ + "/first.log");
  ASSERT_NO_FATAL_FAILURE(copy_redis_data(base_ + "/snapshot"));  // the coordinator rides the restart out
  ASSERT_EQ(wait_exit(coordinator, 300), 0) << read_text(base_ + "/first.log");
  const auto before = files_under(out_);

  ASSERT_NO_FATAL_FAILURE(restart_redis_with(base_ + "/snapshot"));
  const std::vector<proto::PromptRecord> rolled_back = prompts();
  ASSERT_EQ(rolled_back.size(), 12u);
  ASSERT_LT(done_count(rolled_back), 12u) << "the snapshot should predate some outcomes";

  const auto r = testing_support::run_evosearch("run " + spec_ + " --threads 1 --lease-seconds 2");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("went back in time"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("it lost the outcomes of prompts"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--restart"), std::string::npos) << r.output;
  EXPECT_EQ(changed(before, files_under(out_)), std::vector<std::string>{}) << "the refused run wrote or removed files";
  // Nothing claimed: every prompt keeps the token (and owner) the snapshot gave it.
  const std::vector<proto::PromptRecord> after = prompts();
  ASSERT_EQ(after.size(), rolled_back.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].token(), rolled_back[i].token()) << "prompt " << i;
    EXPECT_EQ(after[i].status(), rolled_back[i].status()) << "prompt " << i;
    EXPECT_EQ(after[i].attempts(), rolled_back[i].attempts()) << "prompt " << i;
  }
}

// The rollback under a running coordinator: it rides out the restart, then its claims hand out
// tokens it used or prompts it finished after the snapshot; it stops instead of using them.
TEST_F(StoreEpoch, ARedisRolledBackUnderARunningCoordinatorStopsIt) {
  const pid_t coordinator = start_logged(run_command(spec_, "--store-timeout 60"), base_ + "/first.log");
  ASSERT_TRUE(wait_done(1, 120)) << read_text(base_ + "/first.log");
  ASSERT_NO_FATAL_FAILURE(copy_redis_data(base_ + "/snapshot"));
  const size_t at_snapshot = done_count(prompts());
  ASSERT_TRUE(wait_done(at_snapshot + 1, 120)) << read_text(base_ + "/first.log");
  ASSERT_NO_FATAL_FAILURE(restart_redis_with(base_ + "/snapshot"));
  const int code = wait_exit(coordinator, 300);
  const std::string log = read_text(base_ + "/first.log");
  EXPECT_EQ(code, 1) << log;
  EXPECT_NE(log.find("went back in time"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(out_ + "/results.json")) << log;
}

TEST_F(StoreEpoch, AResumeOnAnIntactStoreIsNotDisturbed) {
  ASSERT_NO_FATAL_FAILURE(run_partly(1));
  auto s = store();
  ASSERT_TRUE(s);
  auto job = s->job();
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  EXPECT_NE(read_text(out_ + "/state/store-epoch").find("epoch " + std::to_string(job->created_unix_ms()) + "\n"),
            std::string::npos)
      << "the output folder names the store's job: " << read_text(out_ + "/state/store-epoch");

  const auto r = testing_support::run_evosearch("run " + spec_ + " --threads 1 --lease-seconds 2");
  ASSERT_EQ(r.code, 0) << r.output;
  expect_same_answers(spec_, reference_, "resumed on an intact Redis");
  for (const auto& p : prompts()) EXPECT_LE(p.attempts(), 2u) << p.prompt();
}

}  // namespace
}  // namespace evosearch
