// Faults under load in distributed runs (mpirun, 2 workers): a worker SIGKILLed at random points
// and the same command run again each time, and a worker slowed 10x by a SIGSTOP/SIGCONT duty
// cycle. Both end with each prompt answered once and the answers (and image bytes) of the
// embedded run. The random points come from a fixed seed, printed.
#include <chrono>
#include <csignal>
#include <filesystem>
#include <random>
#include <regex>
#include <string>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "distributed_jobs.h"
#include "hostile_harness.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;
using testing_support::read_text;

const char* const kSearch = R"({"method": "evosearch", "evolution_steps": [0, 6, 12, 18], "population": [6, 4, 4, 4, 4]})";

std::string mpirun_command(const std::string& spec) {
  return "mpirun -n 3 --oversubscribe " + std::string(EVOSEARCH_BINARY) + " run " + spec + " --threads 1";
}

// The pid of `rank` once its "worker ready: pid N" line is in `log`, or -1 when the launcher ends first.
int worker_pid(const std::string& log, int rank, pid_t launcher) {
  const std::regex ready("\\[rank " + std::to_string(rank) + " [^\\]]*\\] worker ready: pid ([0-9]+)");
  for (int i = 0; i < 6000; ++i) {
    std::smatch m;
    const std::string text = read_text(log);
    if (std::regex_search(text, m, ready)) return std::stoi(m[1]);
    if (waitpid(launcher, nullptr, WNOHANG) == launcher) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

class FaultMpi : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
  }

  // The embedded run's answers, made once per test program.
  static const std::string& reference() {
    static const std::string spec = [] {
      const std::string s = testing_support::make_job(testing_support::fresh_dir("fault-mpi-reference"), kSearch, true);
      const auto r = testing_support::run_evosearch("run " + s + " --threads 1");
      EXPECT_EQ(r.code, 0) << r.output;
      return s;
    }();
    return spec;
  }
};

TEST_F(FaultMpi, WorkerKilledAtRandomPointsThenResumed) {
  const std::string ref = reference();
  const std::string spec = testing_support::make_job(testing_support::fresh_dir("fault-mpi-kill"), kSearch, true);
  constexpr unsigned kSeed = 9127;
  std::mt19937 rng(kSeed);
  std::uniform_int_distribution<int> rank(1, 2);
  // Seconds after the worker is ready: on an idle machine the whole job takes about a second
  // after that, so later points would find it finished (and the test would kill nothing).
  std::uniform_real_distribution<double> point(0.0, 0.5);
  std::printf("seed %u\n", kSeed);
  int kills = 0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    const std::string log = spec + ".log";
    const pid_t launcher = testing_support::start_logged(mpirun_command(spec), log);
    const int victim_rank = rank(rng);
    const double at = point(rng);
    const int victim = worker_pid(log, victim_rank, launcher);
    if (victim > 0) {
      std::this_thread::sleep_for(std::chrono::duration<double>(at));
      kill(victim, SIGKILL);
    }
    const int code = testing_support::wait_exit(launcher, 120);
    std::printf("attempt %d: rank %d killed %.3f s after it was ready -> exit %d\n", attempt, victim_rank, at, code);
    ASSERT_NE(code, -1) << "the job did not stop within 120 s of a worker's death\n" << read_text(log);
    if (code == 0) break;  // finished before the kill
    ++kills;
  }
  EXPECT_GT(kills, 0) << "no kill landed inside a run";
  const auto again = testing_support::run_shell(mpirun_command(spec));
  ASSERT_EQ(again.code, 0) << again.output;
  testing_support::expect_same_answers(spec, ref, "after workers were killed");
}

// Rank 2 runs 10% of the time (stopped 90 ms of every 100 ms) for the whole job.
TEST_F(FaultMpi, AWorkerSlowedTenTimesGivesTheSameAnswers) {
  const std::string ref = reference();
  const std::string spec = testing_support::make_job(testing_support::fresh_dir("fault-mpi-slow"), kSearch, true);
  const std::string log = spec + ".log";
  const pid_t launcher = testing_support::start_logged(mpirun_command(spec), log);
  const int slow = worker_pid(log, 2, launcher);
  ASSERT_GT(slow, 0) << read_text(log);
  int status = 0;
  int cycles = 0;
  const auto start = std::chrono::steady_clock::now();
  while (waitpid(launcher, &status, WNOHANG) != launcher) {
    ASSERT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 600) << read_text(log);
    kill(slow, SIGSTOP);
    std::this_thread::sleep_for(std::chrono::milliseconds(90));
    kill(slow, SIGCONT);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ++cycles;
  }
  kill(slow, SIGCONT);
  std::printf("%d stop/continue cycles\n", cycles);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_text(log);
  testing_support::expect_same_answers(spec, ref, "with a slowed worker");
}

}  // namespace
}  // namespace evosearch
