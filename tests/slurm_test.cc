// The distributed job through a real (local) Slurm: `srun --mpi=pmix` and the example batch
// script give the answers of the embedded run. cluster/test.sh starts the local Slurm
// (cluster/slurm-local.sh) before the tests.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "distributed_jobs.h"

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
      GTEST_SKIP() << "no Slurm here: start a local one with `bash cluster/slurm-local.sh` (cluster/test.sh does)";
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

}  // namespace
}  // namespace evosearch
