// The video job on the bundled video model under mpirun: 1 coordinator and 2 workers (3 ranks),
// over shared memory and over TCP, give the embedded run's answers: the same rollouts, scores,
// frame strips, MP4s and GIFs. States must really move between the workers, and some answers
// must come from generations that started from parent states.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "distributed_jobs.h"
#include "run_evosearch.h"
#include "video_jobs.h"

namespace evosearch {
namespace {

using testing_support::CommandResult;
using testing_support::make_video_job;
using testing_support::video_results;

// S = 0,3,5 and K = 6,3,3,3 over 8 steps: 96 NFE per prompt.
const char* kSearch =
    R"({"method": "evosearch", "evolution_steps": [0, 3, 5], "population": [6, 3, 3, 3], "elites": 1})";

TEST(MpiVideo, ThreeRanksGiveTheEmbeddedAnswers) {
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  const std::string base = testing_support::fresh_dir("mpi-video");
  const std::string embedded = make_video_job(base + "/embedded", 4, kSearch);
  const CommandResult e = testing_support::run_evosearch("run " + embedded + " --threads 1");
  ASSERT_EQ(e.code, 0) << e.output;
  int later_answers = 0;
  const proto::JobResults reference = video_results(embedded);
  for (const proto::PromptOutcome& p : reference.prompts()) later_answers += p.generation() > 0;
  EXPECT_GT(later_answers, 0) << "every answer came from the first generation: moved states would not be seen";
  for (const std::string transport : {"", "--mca btl self,tcp"}) {
    const std::string spec = make_video_job(base + (transport.empty() ? "/shm" : "/tcp"), 4, kSearch);
    const CommandResult r = testing_support::run_shell("mpirun -n 3 --oversubscribe " + transport + " " +
                                                       EVOSEARCH_BINARY + " run " + spec + " --threads 1");
    ASSERT_EQ(r.code, 0) << transport << "\n" << r.output;
    testing_support::expect_same_video_answers(spec, embedded, "3 ranks " + transport);
    const proto::JobResults results = video_results(spec);
    EXPECT_EQ(results.totals().workers(), 2);
    EXPECT_GT(results.totals().state_moves(), 0) << "no state moved between the workers";
  }
}

}  // namespace
}  // namespace evosearch
