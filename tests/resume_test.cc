// A job killed with SIGKILL at random points, or stopped with SIGTERM, and run again until it
// finishes, gives exactly the answers of an uninterrupted run.
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "evosearch/job.pb.h"
#include "cluster/signals.h"
#include "common/atomic_file.h"
#include "job_results_file.h"
#include "run_evosearch.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

// A denoiser with some real work per call, so a run lasts a few seconds and kills land inside it.
testing_support::TinyBundle slow_bundle() {
  testing_support::TinyBundle b;
  b.denoiser = R"(
def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
    w = torch.ones(300, 300, device=x.device) + t[0]  # depends on the input, so the JIT cannot fold it away
    work = w @ w
    return 0.5 * x + 0.01 * cond[:, 0].reshape(-1, 1, 1, 1) + 0.0 * work.mean()
)";
  return b;
}

std::string make_job(const std::string& dir, const std::string& method) {
  slow_bundle().write(dir + "/bundle");
  std::ofstream(dir + "/suite.txt") << "a bag\na dark coat\na tiny dress\na bright sandal\na plain top\n";
  std::ofstream(dir + "/job.json") << R"({"bundle": "bundle", "prompts": "suite.txt", "output": "out", "seed": 3,
    "sampler": {"steps": 30}, "batch_size": 3, "prompts_in_flight": 2, "search": )"
                                   << method << "}";
  return dir + "/job.json";
}

// True once the run wrote a checkpoint or outcome after `since`.
bool progressed(const fs::path& state_dir, fs::file_time_type since) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(state_dir, ec)) {
    const bool result = entry.path().extension() == ".ckpt" || entry.path().extension() == ".done";
    if (result && entry.last_write_time(ec) > since) return true;
  }
  return false;
}

// Starts `evosearch run spec --threads 1` in the background, its output discarded.
pid_t start_run(const std::string& spec) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(EVOSEARCH_BINARY, EVOSEARCH_BINARY, "run", spec.c_str(), "--threads", "1", static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Starts `evosearch run spec`. With a signal: sends it `delay` after the run's first new
// checkpoint (so it lands inside the search, not during start-up). Returns the exit status.
int run(const std::string& spec, int signal = 0, std::chrono::milliseconds delay = {}) {
  const fs::path state_dir = fs::path(spec).parent_path() / "out" / "state";
  const auto since = fs::file_time_type::clock::now();
  const pid_t pid = start_run(spec);
  int status = 0;
  bool reaped = false;
  while (signal && !(reaped = waitpid(pid, &status, WNOHANG) == pid)) {
    if (progressed(state_dir, since)) {
      std::this_thread::sleep_for(delay);
      kill(pid, signal);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!reaped) waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

using testing_support::results_of;

void expect_same_answers(const proto::JobResults& a, const proto::JobResults& b) {
  ASSERT_EQ(a.prompts_size(), b.prompts_size());
  for (int i = 0; i < a.prompts_size(); ++i) {
    EXPECT_EQ(a.prompts(i).generation(), b.prompts(i).generation()) << i;
    EXPECT_EQ(a.prompts(i).candidate(), b.prompts(i).candidate()) << i;
    EXPECT_EQ(a.prompts(i).scores().at("brightness"), b.prompts(i).scores().at("brightness")) << i;
    EXPECT_EQ(a.prompts(i).nfe(), b.prompts(i).nfe()) << i;
  }
  EXPECT_EQ(a.totals().nfe(), b.totals().nfe());
  EXPECT_EQ(a.totals().reward_calls(), b.totals().reward_calls());
}

void kill_and_resume(const std::string& method, const std::string& name) {
  const std::string base = testing_support::fresh_dir(name);
  const std::string straight = make_job(base + "/straight", method);
  ASSERT_EQ(run(straight), 0);
  const proto::JobResults reference = results_of(straight);

  // Kills at random points of the search: a random delay after each run's first checkpoint.
  const std::string killed = make_job(base + "/killed", method);
  std::mt19937 rng(static_cast<unsigned>(std::hash<std::string>()(name)));
  int kills = 0;
  for (int attempt = 0; attempt < 12; ++attempt) {
    const auto delay = std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 250)(rng));
    const int code = run(killed, SIGKILL, delay);
    if (code == 0) break;  // finished before the kill
    EXPECT_EQ(code, 128 + SIGKILL);
    ++kills;
  }
  EXPECT_GE(kills, 2) << "the kills should land inside the run";
  ASSERT_EQ(run(killed), 0);
  expect_same_answers(results_of(killed), reference);
  const auto events = read_file((fs::path(killed).parent_path() / "out" / "state" / "events.log").string());
  ASSERT_TRUE(events.ok());
  EXPECT_NE(events->find("resume"), std::string::npos);
}

TEST(Resume, EvoSearchSurvivesSigkill) {
  kill_and_resume(R"({"method": "evosearch", "evolution_steps": [0, 8, 16, 24], "population": [6, 4, 4, 4, 4]})",
                  "resume-evo");
}

// Killed before and after the suite budget is shared out (its prompts parked between).
TEST(Resume, ASuiteBudgetSurvivesSigkill) {
  kill_and_resume(R"({"method": "evosearch", "suite_model_calls_budget": 3000})", "resume-suite");
}

// The file store writes a checkpoint, then the prompt's record: a run killed between the two
// leaves the record a generation behind. A prompt parked at the suite budget's barrier whose record
// says it is not there yet must not keep the budget from being shared (it waited forever).
TEST(Resume, ASuiteBudgetRecordBehindItsCheckpointDoesNotStallTheJob) {
  const std::string search = R"({"method": "evosearch", "suite_model_calls_budget": 3000})";
  const std::string base = testing_support::fresh_dir("resume-suite-lag");
  const std::string straight = make_job(base + "/straight", search);
  ASSERT_EQ(run(straight), 0);
  // One prompt in flight: prompt 0 parks at generation 2 while prompt 1 runs; stopped then.
  const std::string lagging = make_job(base + "/lagging", search);
  ASSERT_TRUE(write_file_atomic(lagging, testing_support::replaced(*read_file(lagging), R"("prompts_in_flight": 2)",
                                                                   R"("prompts_in_flight": 1)"))
                  .ok());
  const fs::path record = fs::path(lagging).parent_path() / "out" / "state" / "prompt-00000.json";
  const pid_t pid = start_run(lagging);
  for (int i = 0; i < 6000; ++i) {
    const auto text = read_file(record.string());
    if (text.ok() && text->find(R"("generation":2,)") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 75) << "the run should stop with prompt 0 parked";
  // Its record one generation behind its checkpoint, as a kill between the two writes leaves it.
  const auto text = read_file(record.string());
  ASSERT_TRUE(text.ok());
  ASSERT_NE(text->find(R"("generation":2,)"), std::string::npos) << *text;
  ASSERT_TRUE(write_file_atomic(record.string(), testing_support::replaced(*text, R"("generation":2,)", R"("generation":1,)")).ok());
  ASSERT_EQ(run(lagging), 0);
  expect_same_answers(results_of(lagging), results_of(straight));
}

TEST(Resume, ParticlesSurviveSigkill) {
  kill_and_resume(R"({"method": "particles", "particles": 6, "resample_interval": 6})", "resume-particles");
}

TEST(Resume, SigtermCheckpointsAndExitsForRetry) {
  const std::string base = testing_support::fresh_dir("resume-term");
  const std::string method = R"({"method": "evosearch", "evolution_steps": [0, 10, 20], "population": [6, 4, 4, 4]})";
  const std::string straight = make_job(base + "/straight", method);
  ASSERT_EQ(run(straight), 0);
  const std::string stopped = make_job(base + "/stopped", method);
  const int code = run(stopped, SIGTERM, std::chrono::milliseconds(100));
  EXPECT_EQ(code, 75) << "stopped at a generation boundary, checkpointed (the run lasts seconds; the signal came 0.1 s in)";
  ASSERT_EQ(run(stopped), 0);
  expect_same_answers(results_of(stopped), results_of(straight));
}

// Every stop signal a node can send (cluster/signals.h) checkpoints and exits 75, as SIGTERM does,
// and the same command then finishes with the uninterrupted answers.
TEST(Resume, EveryStopSignalCheckpointsAndExitsForRetry) {
  const std::string base = testing_support::fresh_dir("resume-signals");
  const std::string method = R"({"method": "evosearch", "evolution_steps": [0, 10, 20], "population": [6, 4, 4, 4]})";
  const std::string straight = make_job(base + "/straight", method);
  ASSERT_EQ(run(straight), 0);
  for (const int signal : stop_signals()) {
    if (signal == SIGTERM) continue;  // SigtermCheckpointsAndExitsForRetry
    const std::string stopped = make_job(base + "/stopped-" + std::to_string(signal), method);
    EXPECT_EQ(run(stopped, signal, std::chrono::milliseconds(100)), 75) << strsignal(signal);
    ASSERT_EQ(run(stopped), 0) << strsignal(signal);
    expect_same_answers(results_of(stopped), results_of(straight));
  }
}

TEST(Resume, CorruptShardIsRefusedNamingIt) {
  const std::string base = testing_support::fresh_dir("resume-corrupt");
  const std::string spec = make_job(base + "/job", R"({"method": "evosearch", "evolution_steps": [0, 10, 20], "population": [6, 4, 4, 4]})");
  // Stopped right after the first checkpoint: the prompts not started yet keep it from finishing.
  ASSERT_EQ(run(spec, SIGTERM), 75);
  const fs::path shards = fs::path(spec).parent_path() / "out" / "state" / "shards";
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(shards)) files.push_back(entry.path());
  ASSERT_FALSE(files.empty());
  std::string bytes = *read_file(files[0].string());
  bytes[bytes.size() / 2] ^= 1;
  ASSERT_TRUE(write_file_atomic(files[0].string(), bytes).ok());
  const auto r = testing_support::run_evosearch("run " + spec + " --threads 1");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find(files[0].string()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("checksum"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace evosearch
