// Faults under load, embedded: the coordinator SIGKILLed at 20 random points, SIGKILL during
// --restart, and a disk that fills up while the job checkpoints. Every job, run again until it
// finishes, ends with each prompt done exactly once and the answers (and image bytes) of a clean
// run. The random points come from fixed seeds, printed.
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <string>
#include <thread>

#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "distributed_jobs.h"
#include "hostile_harness.h"
#include "skip_or_fail.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;
using testing_support::expect_no_crash;
using testing_support::Ran;

const char* const kSearch = R"({"method": "evosearch", "evolution_steps": [0, 6, 12, 18], "population": [6, 4, 4, 4, 4]})";

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Ran run_embedded_job(const std::string& spec, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{"run", spec, "--threads", "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  return testing_support::run_program(args, spec + ".log", 120);
}

// Starts `evosearch run spec` and SIGKILLs it after `delay` seconds; its exit code (0 when it
// finished first).
int run_killed_after(const std::string& spec, double delay, const std::string& extra = "") {
  const pid_t pid = testing_support::start_logged(std::string(EVOSEARCH_BINARY) + " run " + spec + " --threads 1 " + extra,
                                                  spec + ".log");
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  while (seconds_since(start) < delay) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Each prompt done once: every record done, at most one "finished prompt N" event per prompt (a
// kill may lose the log's last line, never add one), each prompt once in results.json.
void expect_each_prompt_done_once(const std::string& spec, int prompts) {
  const fs::path out = fs::path(spec).parent_path() / "out";
  const std::string events = testing_support::read_text((out / "state" / "events.log").string());
  const proto::JobResults results = testing_support::results_of(spec);
  ASSERT_EQ(results.prompts_size(), prompts);
  for (int i = 0; i < prompts; ++i) {
    EXPECT_EQ(results.prompts(i).index(), static_cast<uint32_t>(i));
    const std::regex finished("finished prompt " + std::to_string(i) + "\\b");
    const auto count = std::distance(std::sregex_iterator(events.begin(), events.end(), finished), std::sregex_iterator());
    EXPECT_LE(count, 1) << "prompt " << i << " finished " << count << " times\n" << events;
    char record[32];
    std::snprintf(record, sizeof record, "prompt-%05d.json", i);
    EXPECT_NE(testing_support::read_text((out / "state" / record).string()).find("PROMPT_DONE"), std::string::npos) << record;
  }
}

class Fault : public ::testing::Test {
 protected:
  // A clean run of the job, made once per test program; its duration bounds the kill points.
  static const std::string& reference() {
    static const std::string spec = [] {
      const std::string s = testing_support::make_job(testing_support::fresh_dir("fault-reference"), kSearch, true);
      const auto start = std::chrono::steady_clock::now();
      const Ran r = run_embedded_job(s);
      EXPECT_EQ(r.code, 0) << r.output;
      duration_ = seconds_since(start);
      return s;
    }();
    return spec;
  }
  static double duration_;
};

double Fault::duration_ = 0;

TEST_F(Fault, CoordinatorKilledAtTwentyRandomPoints) {
  const std::string ref = reference();
  constexpr unsigned kSeed = 20240517;
  std::mt19937 rng(kSeed);
  // Points anywhere in a run: start-up, store set-up, generations, outputs. A job that finishes
  // before its next kill is checked, and the remaining kills go to a fresh copy of it.
  std::uniform_real_distribution<double> point(0.0, 0.8 * duration_);
  std::printf("seed %u, kill points in [0, %.2f] s\n", kSeed, 0.8 * duration_);
  int kills = 0, round = 0;
  while (kills < 20) {
    const std::string spec = testing_support::make_job(testing_support::fresh_dir("fault-kill-" + std::to_string(round++)), kSearch, true);
    int code = 128 + SIGKILL;
    while (kills < 20 && code != 0) {
      const double at = point(rng);
      code = run_killed_after(spec, at);
      std::printf("round %d: kill at %.3f s -> exit %d\n", round, at, code);
      if (code != 0) {
        EXPECT_EQ(code, 128 + SIGKILL) << testing_support::read_text(spec + ".log");
        ++kills;
      }
    }
    if (code != 0) {
      const Ran r = run_embedded_job(spec);
      ASSERT_EQ(r.code, 0) << r.output;
    }
    testing_support::expect_same_answers(spec, ref, "round " + std::to_string(round));
    expect_each_prompt_done_once(spec, 6);
  }
}

// --restart killed at random points (while it deletes the earlier outputs, opens the store or
// runs), then the same command without --restart: the job ends with a clean run's answers, every
// answer's image on disk, and a user's files outside the output folder untouched.
TEST_F(Fault, RestartKilledAtRandomPoints) {
  const std::string ref = reference();
  constexpr unsigned kSeed = 7031;
  std::mt19937 rng(kSeed);
  std::uniform_real_distribution<double> point(0.0, 0.5 * duration_);
  std::printf("seed %u, kill points in [0, %.2f] s\n", kSeed, 0.5 * duration_);
  for (int i = 0; i < 5; ++i) {
    const std::string dir = testing_support::fresh_dir("fault-restart-" + std::to_string(i));
    const std::string spec = testing_support::make_job(dir, kSearch, true);
    std::ofstream(dir + "/notes.txt") << "a user's file";
    ASSERT_EQ(run_embedded_job(spec).code, 0);
    const double at = point(rng);
    const int code = run_killed_after(spec, at, "--restart");
    std::printf("restart %d: kill at %.3f s -> exit %d\n", i, at, code);
    const Ran r = run_embedded_job(spec);
    ASSERT_EQ(r.code, 0) << r.output;
    testing_support::expect_same_answers(spec, ref, "after --restart killed at " + std::to_string(at) + " s");
    expect_each_prompt_done_once(spec, 6);
    EXPECT_EQ(testing_support::read_text(dir + "/notes.txt"), "a user's file");
  }
}

// The output folder on a small tmpfs, filled up once the first checkpoint exists: the run stops
// with a message (no signal), the state it leaves is consistent, and once space is back the same
// command finishes with a clean run's answers. Needs mount (root, CAP_SYS_ADMIN); skipped without.
TEST_F(Fault, FullDiskDuringCheckpointsThenResume) {
  const std::string ref = reference();
  const std::string dir = testing_support::fresh_dir("fault-full-disk");
  const std::string spec = testing_support::make_job(dir, kSearch, true);
  const std::string out = dir + "/out";
  fs::create_directories(out);
  if (mount("tmpfs", out.c_str(), "tmpfs", 0, "size=8m") != 0) {
    EVOSEARCH_SKIP_UNLESS_CI("a tmpfs mount", "mount: " << std::strerror(errno) << " (needs root or CAP_SYS_ADMIN)");
  }
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{out};

  const pid_t pid = testing_support::start_logged(std::string(EVOSEARCH_BINARY) + " run " + spec + " --threads 1", spec + ".log");
  bool checkpointed = false;
  for (int i = 0; i < 6000 && !checkpointed; ++i) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(out + "/state", ec)) checkpointed |= entry.path().extension() == ".ckpt";
    if (!checkpointed) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(checkpointed) << testing_support::read_text(spec + ".log");
  {  // fill every free byte
    std::ofstream filler(out + "/filler", std::ios::binary);
    const std::string block(4096, 'x');
    while (filler.write(block.data(), block.size())) {
    }
  }
  const int code = testing_support::wait_exit(pid, 120);
  const std::string log = testing_support::read_text(spec + ".log");
  expect_no_crash({code, log}, "the run on a full disk");
  EXPECT_NE(code, 0) << log;
  EXPECT_NE(log.find("No space left on device"), std::string::npos) << log;

  fs::remove(out + "/filler");
  Ran r{1, ""};
  for (int attempt = 0; attempt < 2 && r.code != 0; ++attempt) r = run_embedded_job(spec);
  ASSERT_EQ(r.code, 0) << r.output;
  testing_support::expect_same_answers(spec, ref, "after a full disk");
  expect_each_prompt_done_once(spec, 6);
}

}  // namespace
}  // namespace evosearch
