// The distributed job through a real (local) Slurm: `srun --mpi=pmix` and the example batch
// script give the answers of the embedded run. cluster/test.sh starts the local Slurm
// (cluster/slurm-local.sh) before the tests.
#include <cstdlib>
#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include <unistd.h>

#include <gtest/gtest.h>

#include "distributed_jobs.h"
#include "jobs/job_store.h"
#include "skip_or_fail.h"

namespace evosearch {
namespace {

using testing_support::expect_same_answers;
using testing_support::make_job;
using testing_support::run_shell;

const char* kSearch = R"({"method": "evosearch", "evolution_steps": [0, 6, 12, 18], "population": [8, 4, 4, 4, 4]})";

class Slurm : public ::testing::Test {
 protected:
  void SetUp() override {
    if (run_shell("sinfo -h -o %t").code != 0) {
      EVOSEARCH_SKIP_UNLESS_CI("Slurm", "sinfo fails: start a local one with `bash cluster/slurm-local.sh`");
    }
    base_ = testing_support::fresh_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    reference_ = make_job(base_ + "/embedded", kSearch);
    const auto r = testing_support::run_evosearch("run " + reference_ + " --threads 1");
    ASSERT_EQ(r.code, 0) << r.output;
  }
  std::string base_, reference_;
};

TEST_F(Slurm, SrunPmixGivesTheEmbeddedAnswers) {
  const std::string spec = make_job(base_ + "/srun", kSearch);
  const auto r = run_shell("srun --mpi=pmix -n 3 " + std::string(EVOSEARCH_BINARY) + " run " + spec + " --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("3 ranks via srun"), std::string::npos) << r.output;
  expect_same_answers(spec, reference_, "srun");
}

TEST_F(Slurm, ExampleBatchScriptRunsTheJob) {
  const std::string spec = make_job(base_ + "/sbatch", kSearch);
  const auto r = run_shell("cd " + base_ + " && EVOSEARCH=" + EVOSEARCH_BINARY + " sbatch --wait --cpus-per-task=1 " +
                           "--output=" + base_ + "/sbatch.log " + EVOSEARCH_SOURCE_DIR + "/cluster/evosearch.sbatch " + spec);
  ASSERT_EQ(r.code, 0) << r.output << run_shell("cat " + base_ + "/sbatch.log").output;
  expect_same_answers(spec, reference_, "sbatch");
}

// The job-array template: three array tasks, each a coordinator, share one Redis job.
class SlurmArray : public Slurm {
  static constexpr int kWork = 700;  // a second or two per prompt: the tasks overlap

 protected:
  void SetUp() override {
    Slurm::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    const char* url = std::getenv("EVOSEARCH_TEST_REDIS");
    redis_ = url && *url ? url : "redis://127.0.0.1:6391/0";
    if (run_shell("redis-cli -u " + redis_ + " ping").output.find("PONG") == std::string::npos) {
      EVOSEARCH_SKIP_UNLESS_CI("Redis", "nothing answers at " << redis_ << ": start one with `bash cluster/redis-local.sh`");
    }
    slow_reference_ = make_job(base_ + "/embedded-slow", kSearch, true, kWork);
    const auto r = testing_support::run_evosearch("run " + slow_reference_ + " --threads 1");
    ASSERT_EQ(r.code, 0) << r.output;
  }

  // A spec whose job lives in Redis under a name no earlier run used; the slow tiny bundle, so the
  // array's tasks overlap and share the suite.
  std::string shared_job(const std::string& dir) {
    const std::string spec = make_job(base_ + "/" + dir, kSearch, true, kWork);
    const std::string name = "slurm-" + std::to_string(::getpid()) + "-" + dir;
    std::string text = run_shell("cat " + spec).output;
    text.insert(text.find('{') + 1, "\"name\": \"" + name + "\", \"prompts_in_flight\": 1, ");
    std::ofstream(spec) << text;
    return spec;
  }

  std::string sbatch(const std::string& spec, const std::string& flags) {
    return "cd " + base_ + " && EVOSEARCH=" + EVOSEARCH_BINARY + " EVOSEARCH_JOB_STORE=" + redis_ +
           " EVOSEARCH_LEASE=3 sbatch --parsable --array=0-2 --ntasks=1 --cpus-per-task=1 " + flags + " --output=" +
           base_ + "/array-%a.log " + EVOSEARCH_SOURCE_DIR + "/cluster/evosearch-array.sbatch " + spec;
  }

  std::string logs() { return run_shell("cat " + base_ + "/array-*.log").output; }
  std::string redis_, slow_reference_;
};

TEST_F(SlurmArray, ThreeArrayTasksCompleteTheSuiteOnce) {
  const std::string spec = shared_job("array");
  const auto r = run_shell(sbatch(spec, "--wait"));
  ASSERT_EQ(r.code, 0) << r.output << logs();
  expect_same_answers(spec, slow_reference_, "job array");
  auto store = open_job_store(redis_, "", "slurm-" + std::to_string(::getpid()) + "-array");
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  auto prompts = (*store)->prompts();
  ASSERT_TRUE(prompts.ok()) << prompts.status().to_string();
  ASSERT_EQ(prompts->size(), 6u);
  std::set<std::string> owners;
  for (const auto& p : *prompts) {
    EXPECT_EQ(p.status(), proto::PROMPT_DONE) << p.prompt();
    EXPECT_EQ(p.attempts(), 1u) << "prompt " << p.prompt() << " was claimed more than once";
    owners.insert(p.owner());
  }
  EXPECT_GE(owners.size(), 2u) << "the array tasks should have shared the suite";
}

TEST_F(SlurmArray, ARequeuedTaskResumesAndTheSuiteMatchesAnUninterruptedRun) {
  const std::string spec = shared_job("requeue");
  const auto submitted = run_shell(sbatch(spec, ""));
  ASSERT_EQ(submitted.code, 0) << submitted.output;
  const std::string job = submitted.output.substr(0, submitted.output.find_first_of(";\n"));
  // Once a checkpoint exists, requeue a task that is still running (Slurm stops it and puts it
  // back in the queue). Any task will do: on a loaded machine one may finish its share early.
  bool requeued = false;
  for (int i = 0; i < 600 && !requeued; ++i) {
    if (run_shell("ls " + base_ + "/requeue/out/state/shards 2>/dev/null | grep -c shard").output != "0\n") {
      std::string task = run_shell("squeue -h -j " + job + " -t R -o %i | head -n 1").output;
      task.erase(task.find_last_not_of(" \n") + 1);
      if (!task.empty()) requeued = run_shell("scontrol requeue " + task).code == 0;
    }
    if (!requeued) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(requeued) << logs();
  // The whole array, the requeued task included, finishes.
  for (int i = 0; i < 3000 && !run_shell("squeue -h -j " + job).output.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(run_shell("squeue -h -j " + job).output.empty()) << "array still queued or running\n" << logs();
  expect_same_answers(spec, slow_reference_, "job array with a requeued task");
  EXPECT_EQ(run_shell("sacct -n -X -j " + job + " -o State 2>/dev/null | grep -c FAILED").output, "0\n") << logs();
}

}  // namespace
}  // namespace evosearch
