// The distributed job under mpirun: the same answers as the embedded run with 1, 2 and 3 worker
// ranks (shared memory, and the TCP transport), with rank 0 computing too, and a dead or hung
// worker ends the job quickly with its rank named, after which the same command resumes. A job
// with a budget in seconds started in one process resumes under mpirun with the plan it was
// created with.
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "evosearch/job.pb.h"
#include "evosearch/job_records.pb.h"
#include "common/atomic_file.h"
#include "distributed_jobs.h"
#include "run_evosearch.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;
using testing_support::CommandResult;
using testing_support::expect_same_answers;
using testing_support::make_job;
using testing_support::results_of;
using testing_support::run_shell;

std::string mpirun(int ranks, const std::string& extra) {
  return "mpirun -n " + std::to_string(ranks) + " --oversubscribe " + extra + " " + EVOSEARCH_BINARY;
}

class Mpi : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
  }
};

// The same answers embedded and on 1..3 workers. With more than one worker, states must really
// have moved between workers, and some answers must come from generations after the first (which
// start from parent states), so a data plane that corrupted moved states would change answers.
// With `grids`, every generation's grid (its frames taken from the workers that scored each
// candidate, one request per worker) has the embedded run's bytes too.
void same_answers_on_any_worker_count(const std::string& search_spec, const std::string& name, bool grids = false) {
  const std::string search = grids ? search_spec + R"(, "generation_grids": true)" : search_spec;
  const std::string base = testing_support::fresh_dir(name);
  const std::string embedded = make_job(base + "/embedded", search);
  const CommandResult e = testing_support::run_evosearch("run " + embedded + " --threads 1");
  ASSERT_EQ(e.code, 0) << e.output;
  struct Case {
    std::string dir;
    int ranks;
    std::string mpi_flags, evosearch_flags;
  };
  const Case cases[] = {{"w1", 2, "", ""},
                        {"w2", 3, "", ""},
                        {"w3", 4, "", ""},
                        {"w2-tcp", 3, "--mca btl self,tcp", ""},
                        {"w2-rank0", 2, "", "--coordinator-computes"}};
  int later_answers = 0;
  const proto::JobResults reference = results_of(embedded);
  for (const proto::PromptOutcome& p : reference.prompts()) later_answers += p.generation() > 0;
  EXPECT_GT(later_answers, 0) << "every answer came from the first generation: the test would not see moved states";
  for (const Case& c : cases) {
    const std::string spec = make_job(base + "/" + c.dir, search);
    const CommandResult r = run_shell(mpirun(c.ranks, c.mpi_flags) + " run " + spec + " --threads 1 " + c.evosearch_flags);
    ASSERT_EQ(r.code, 0) << c.dir << "\n" << r.output;
    expect_same_answers(spec, embedded, c.dir);
    if (grids) testing_support::expect_same_grids(spec, embedded, c.dir);
    const proto::JobResults results = results_of(spec);
    const int workers = c.evosearch_flags.empty() ? c.ranks - 1 : c.ranks;
    EXPECT_EQ(results.totals().workers(), workers) << c.dir;
    const proto::PhaseSeconds& phases = results.totals().phases();  // the workers' model time by phase reached rank 0
    EXPECT_GT(phases.denoise(), 0) << c.dir;
    EXPECT_NEAR(phases.encode() + phases.denoise() + phases.decode() + phases.score(), results.totals().model_seconds(), 1e-6)
        << c.dir;
    if (workers > 1) {
      EXPECT_GT(results.totals().state_moves(), 0) << c.dir << ": no state moved between workers";
    }
  }
}

TEST_F(Mpi, EvoSearchSameAnswersEmbeddedAndOneToThreeWorkers) {
  same_answers_on_any_worker_count(
      R"({"method": "evosearch", "evolution_steps": [0, 6, 12, 18], "population": [8, 4, 4, 4, 4], "elites": 1})",
      "mpi-evo", true);
}

TEST_F(Mpi, ParticlesSameAnswersEmbeddedAndOneToThreeWorkers) {
  same_answers_on_any_worker_count(R"({"method": "particles", "particles": 6, "resample_interval": 4})", "mpi-particles",
                                   true);
}

// A suite budget: the shares come from the stored first generations, whichever rank computed them.
TEST_F(Mpi, ASuiteBudgetSameAnswersEmbeddedAndOneToThreeWorkers) {
  same_answers_on_any_worker_count(R"({"method": "evosearch-lookahead", "suite_model_calls_budget": 3120})",
                                   "mpi-suite");
}

// Starts mpirun in the background with its output in `log`; returns its pid.
pid_t start(const std::string& command, const std::string& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Waits for rank `rank`'s "worker ready: pid N" line and the first checkpoint; returns N.
int worker_pid_after_first_checkpoint(const std::string& log, const fs::path& state, int rank) {
  const std::regex ready("\\[rank " + std::to_string(rank) + " [^\\]]*\\] worker ready: pid ([0-9]+)");
  for (int i = 0; i < 3000; ++i) {
    std::smatch m;
    const std::string text = read_text(log);
    std::error_code ec;
    bool checkpointed = false;
    for (const auto& entry : fs::directory_iterator(state, ec)) checkpointed |= entry.path().extension() == ".ckpt";
    if (std::regex_search(text, m, ready) && checkpointed) return std::stoi(m[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

// Waits up to `seconds` for `pid` to exit; returns its exit code, or -1 if it did not.
int wait_for(pid_t pid, double seconds, double& took) {
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(-pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

const char* kSlowSearch = R"({"method": "evosearch", "evolution_steps": [0, 6, 12, 18], "population": [8, 6, 6, 6, 6]})";

TEST_F(Mpi, DeadWorkerStopsTheJobAndTheSameCommandResumes) {
  const std::string base = testing_support::fresh_dir("mpi-dead");
  const std::string reference = make_job(base + "/reference", kSlowSearch, true);
  ASSERT_EQ(testing_support::run_evosearch("run " + reference + " --threads 1").code, 0);
  const std::string spec = make_job(base + "/killed", kSlowSearch, true);
  const std::string command = mpirun(3, "") + " run " + spec + " --threads 1";
  const std::string log = base + "/killed.log";
  const pid_t launcher = start(command, log);
  const int victim = worker_pid_after_first_checkpoint(log, fs::path(spec).parent_path() / "out" / "state", 2);
  ASSERT_GT(victim, 0) << read_text(log);
  kill(victim, SIGKILL);
  double took = 0;
  const int code = wait_for(launcher, 60, took);
  const std::string output = read_text(log);
  EXPECT_NE(code, 0) << output;
  EXPECT_NE(code, -1) << "the job did not stop within 60 s of a worker's death\n" << output;
  EXPECT_LT(took, 20) << output;
  EXPECT_NE(output.find("rank 2"), std::string::npos) << output;
  // Running the same command again resumes from the checkpoints and gives the same answers.
  const CommandResult again = run_shell(command);
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_NE(again.output.find("resuming"), std::string::npos) << again.output;
  expect_same_answers(spec, reference, "after a worker died");
}

TEST_F(Mpi, ASecondsBudgetJobStartedInOneProcessResumesWithItsPlan) {
  const char* search = R"({"method": "evosearch", "model_seconds_budget": 0.2})";
  const std::string base = testing_support::fresh_dir("mpi-seconds");
  // Under mpirun a new job cannot be planned: rank 0 has no model to time, and workers may differ.
  const std::string fresh = make_job(base + "/fresh", search, true);
  const CommandResult refused = run_shell(mpirun(3, "") + " run " + fresh + " --threads 1");
  EXPECT_NE(refused.code, 0) << refused.output;
  EXPECT_NE(refused.output.find("search.model_seconds_budget"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("start it in one process"), std::string::npos) << refused.output;
  EXPECT_FALSE(fs::exists(fs::path(fresh).parent_path() / "out" / "results.json"));

  // Started in one process and stopped after its first checkpoint (SIGTERM: exit 75)...
  const std::string spec = make_job(base + "/resumed", search, true);
  const std::string log = base + "/embedded.log";
  const pid_t embedded = start("exec " + std::string(EVOSEARCH_BINARY) + " run " + spec + " --threads 1", log);
  const fs::path state = fs::path(spec).parent_path() / "out" / "state";
  bool checkpointed = false;
  for (int i = 0; i < 3000 && !checkpointed; ++i) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(state, ec)) checkpointed |= entry.path().extension() == ".ckpt";
    if (!checkpointed) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(checkpointed) << read_text(log);
  kill(embedded, SIGTERM);
  double took = 0;
  const int stopped = wait_for(embedded, 60, took);
  ASSERT_TRUE(stopped == 75 || stopped == 0) << stopped << "\n" << read_text(log);
  // The job record keeps the plan and the costs it was made with.
  const auto record = read_file((state / "job.json").string());
  ASSERT_TRUE(record.ok()) << record.status().to_string();
  proto::JobRecord stored;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*record, &stored).ok()) << *record;
  const std::string planned = stored.spec().search().plan().summary();
  EXPECT_GT(stored.spec().search().plan().seconds_per_nfe(), 0);

  // ...then resumed on 3 ranks: the plan from the job record, not refused as another job.
  const CommandResult resumed = run_shell(mpirun(3, "") + " run " + spec + " --threads 1");
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("planning with the call costs this job was created with"), std::string::npos)
      << resumed.output;
  EXPECT_NE(resumed.output.find("resuming"), std::string::npos) << resumed.output;
  const proto::JobResults results = results_of(spec);
  EXPECT_EQ(results.spec().search().plan().budget(), "model_seconds_budget");
  EXPECT_EQ(results.spec().search().plan().summary(), planned);
  EXPECT_GT(results.spec().search().population_size(), 0);
  EXPECT_EQ(results.prompts_size(), 6);
}

TEST_F(Mpi, HungWorkerIsDetectedByTimeout) {
  const std::string base = testing_support::fresh_dir("mpi-hung");
  const std::string spec = make_job(base + "/hung", kSlowSearch, true);
  const std::string log = base + "/hung.log";
  const pid_t launcher = start(mpirun(3, "") + " run " + spec + " --threads 1 --worker-timeout 2", log);
  const int victim = worker_pid_after_first_checkpoint(log, fs::path(spec).parent_path() / "out" / "state", 1);
  ASSERT_GT(victim, 0) << read_text(log);
  kill(victim, SIGSTOP);  // alive but silent: only a timeout can tell
  double took = 0;
  const int code = wait_for(launcher, 60, took);
  kill(victim, SIGKILL);
  const std::string output = read_text(log);
  EXPECT_NE(code, 0) << output;
  EXPECT_NE(code, -1) << "a hung worker was waited on for 60 s\n" << output;
  EXPECT_NE(output.find("rank 1"), std::string::npos) << output;
  EXPECT_NE(output.find("has not answered"), std::string::npos) << output;
  EXPECT_NE(output.find("run the same command again to resume"), std::string::npos) << output;
}

}  // namespace
}  // namespace evosearch
