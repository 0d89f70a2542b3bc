// The tiny Wan 2.1 bundle (models/export_wan.py: token conditions with a mask, a reward that reads
// the prompt text, a real transformer with RoPE and cross-attention) under mpirun: 1 coordinator
// and 2 workers give the embedded run's answers (same rollouts, images and scores).
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "distributed_jobs.h"
#include "skip_or_fail.h"
#include "wan_bundle.h"

namespace evosearch {
namespace {

using testing_support::CommandResult;

TEST(MpiWan, ThreeRanksGiveTheEmbeddedAnswers) {
  if (!testing_support::have_python_torch()) {
    EVOSEARCH_SKIP_UNLESS_CI("python3-torch", "models/export_wan.py runs with /usr/bin/python3's torch");
  }
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  const std::string dir = testing_support::fresh_dir("mpi-wan");
  const CommandResult exported = testing_support::export_tiny_wan(dir);
  ASSERT_EQ(exported.code, 0) << exported.output;
  const std::string embedded = testing_support::write_wan_job(dir, "embedded");
  const CommandResult e = testing_support::run_evosearch("run " + embedded + " --threads 1");
  ASSERT_EQ(e.code, 0) << e.output;
  const std::string spec = testing_support::write_wan_job(dir, "3ranks");
  const CommandResult r = testing_support::run_shell("mpirun -n 3 --oversubscribe " + std::string(EVOSEARCH_BINARY) +
                                                     " run " + spec + " --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  testing_support::expect_same_answers(spec, embedded, "Wan tiny on 3 ranks", "prompt-colour");
  EXPECT_EQ(testing_support::results_of(spec).totals().workers(), 2);
}

}  // namespace
}  // namespace evosearch
