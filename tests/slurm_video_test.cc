// The video job on the bundled video model through the local Slurm (cluster/slurm-local.sh):
// `srun --mpi=pmix -n 3` gives the embedded run's answers, MP4s included.
#include <string>

#include <gtest/gtest.h>

#include "distributed_jobs.h"
#include "run_evosearch.h"
#include "skip_or_fail.h"
#include "video_jobs.h"

namespace evosearch {
namespace {

using testing_support::make_video_job;
using testing_support::run_shell;

const char* kSearch = R"({"method": "evosearch", "evolution_steps": [0, 3, 5], "population": [6, 3, 3, 3]})";

TEST(SlurmVideo, SrunPmixGivesTheEmbeddedAnswers) {
  if (run_shell("sinfo -h -o %t").code != 0) {
    EVOSEARCH_SKIP_UNLESS_CI("Slurm", "sinfo fails: start a local one with `bash cluster/slurm-local.sh`");
  }
  const std::string base = testing_support::fresh_dir("slurm-video");
  const std::string embedded = make_video_job(base + "/embedded", 3, kSearch);
  const auto e = testing_support::run_evosearch("run " + embedded + " --threads 1");
  ASSERT_EQ(e.code, 0) << e.output;
  const std::string spec = make_video_job(base + "/srun", 3, kSearch);
  const auto r = run_shell("srun --mpi=pmix -n 3 " + std::string(EVOSEARCH_BINARY) + " run " + spec + " --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("3 ranks via srun"), std::string::npos) << r.output;
  testing_support::expect_same_video_answers(spec, embedded, "srun");
}

}  // namespace
}  // namespace evosearch
