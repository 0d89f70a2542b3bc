// A job store's password is never written or shown: not in any file of the job's folder (spec
// output, state, logs, results.json, report.html), not in Redis's append-only file (everything the
// store persisted), not in `status --json`, and not on any process's command line while the job
// runs, whether the URL comes through the Slurm array template (EVOSEARCH_JOB_STORE), a file of
// mode 0600, the spec, or --job-store. Label redis: a private redis-server with requirepass.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "child_process.h"
#include "distributed_jobs.h"
#include "redis_test_server.h"
#include "skip_or_fail.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;
using testing_support::read_text;
using testing_support::start_logged;

// The files under `dir` whose bytes hold `needle`, except those in `skip`.
std::vector<std::string> files_holding(const std::string& dir, const std::string& needle,
                                       const std::set<fs::path>& skip) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file() || skip.count(entry.path())) continue;
    if (read_text(entry.path().string()).find(needle) != std::string::npos) found.push_back(entry.path().string());
  }
  return found;
}

// The command lines (/proc/PID/cmdline, NULs shown as spaces) of this machine's processes that
// hold `needle`.
std::set<std::string> command_lines_holding(const std::string& needle) {
  std::set<std::string> found;
  std::error_code ec;
  for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string pid = it->path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string line = read_text("/proc/" + pid + "/cmdline");
    if (line.find(needle) == std::string::npos) continue;
    for (char& c : line) c = c == '\0' ? ' ' : c;
    found.insert(pid + ": " + line);
  }
  return found;
}

class Secrets : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    base_ = testing_support::fresh_dir(test);
    // Unique to this run, so no other process on the machine holds it by chance.
    password_ = "Pw-" + std::to_string(::getpid()) + "-" +
                std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + "-s3cret";
    fs::create_directories(base_ + "/redis");
    server_ = std::make_unique<testing_support::TestRedisServer>(base_ + "/redis", testing_support::free_port(),
                                                                 password_);
    std::string error;
    if (!server_->start(error)) EVOSEARCH_SKIP_UNLESS_CI("redis-server", "cannot start a private one: " << error);
    url_ = server_->url(password_);
    name_ = "secrets-" + std::to_string(::getpid()) + "-" + test;
    ::unsetenv("REDISCLI_AUTH");
  }

  void TearDown() override {
    ::unsetenv("EVOSEARCH_JOB_STORE");
    server_.reset();
  }

  // A 4-prompt job on the slow tiny bundle in base_/job, its spec's job_store `job_store`.
  std::string write_job(const std::string& job_store) {
    const std::string dir = base_ + "/job";
    testing_support::job_bundle(true).write(dir + "/bundle");
    std::ofstream(dir + "/suite.txt") << "a bag\na dark coat\na tiny dress\na bright sandal\n";
    std::ofstream(dir + "/job.json") << R"({"name": ")" << name_ << R"(", "bundle": "bundle", "prompts": "suite.txt",
      "output": "out", "seed": 9, "sampler": {"steps": 24}, "batch_size": 4, "prompts_in_flight": 2,
      "job_store": ")" << job_store << R"(", "search": {"method": "evosearch", "evolution_steps": [0, 6, 12, 18],
      "population": [4, 3, 3, 3, 3]}})";
    return dir + "/job.json";
  }

  // Waits up to 300 s for `pid`, meanwhile collecting every command line on the machine that
  // holds the password; from the start, or (`after_log_line`) once the log has that text.
  int wait_watching(pid_t pid, const std::string& log, const std::string& after_log_line = "") {
    const auto start = std::chrono::steady_clock::now();
    int status = 0;
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < 300) {
      if (after_log_line.empty() || read_text(log).find(after_log_line) != std::string::npos) {
        const std::set<std::string> lines = command_lines_holding(password_);
        seen_.insert(lines.begin(), lines.end());
        ++scans_;
      }
      if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
  }

  // No file under base_ holds the password but the two the test wrote (the server's config, the
  // spec): the job's folder, the logs, and the append-only file of everything the store wrote to Redis.
  void expect_no_file_holds_it() {
    EXPECT_TRUE(fs::exists(base_ + "/job/out/results.json"));
    EXPECT_TRUE(fs::exists(base_ + "/redis/appendonlydir")) << "the store's writes are checked in the AOF";
    for (const std::string& file : files_holding(base_, password_, {server_->config_file(), base_ + "/job/job.json"})) {
      ADD_FAILURE() << file << " holds the password:\n" << read_text(file).substr(0, 2000);
    }
  }

  std::string status_json(const std::string& args) {
    return testing_support::run_shell(std::string(EVOSEARCH_BINARY) + " status --json --job " + name_ + " " + args).output;
  }

  std::string base_, password_, url_, name_;
  std::unique_ptr<testing_support::TestRedisServer> server_;
  std::set<std::string> seen_;  // command lines that held the password
  int scans_ = 0;
};

TEST_F(Secrets, TheArrayTemplateKeepsThePasswordOffEveryCommandLineFileAndStatus) {
  const std::string spec = write_job("");
  // srun's stand-in: drops srun's own options (all --name=value) and runs the program.
  fs::create_directories(base_ + "/bin");
  std::ofstream(base_ + "/bin/srun") << "#!/bin/bash\nwhile [ $# -gt 0 ] && [ \"${1#--}\" != \"$1\" ]; do shift; done\n"
                                        "exec \"$@\"\n";
  std::ofstream(base_ + "/bin/scontrol") << "#!/bin/sh\nexit 0\n";
  fs::permissions(base_ + "/bin/srun", fs::perms::owner_all);
  fs::permissions(base_ + "/bin/scontrol", fs::perms::owner_all);
  ::setenv("EVOSEARCH_JOB_STORE", url_.c_str(), 1);
  const std::string log = base_ + "/job/slurm-task.out";
  const std::string array_task = "env PATH=" + base_ + "/bin:$PATH SLURM_JOB_ID=7 SLURM_CPUS_PER_TASK=1 EVOSEARCH_LEASE=2 "
                                 "EVOSEARCH=" EVOSEARCH_BINARY " bash " EVOSEARCH_SOURCE_DIR "/cluster/evosearch-array.sbatch " +
                                 spec;
  const pid_t task = start_logged(array_task, log);
  ASSERT_EQ(wait_watching(task, log), 0) << read_text(log);
  EXPECT_GE(scans_, 3) << "the job ran too briefly to look at its command lines";
  for (const std::string& line : seen_) ADD_FAILURE() << "a command line held the password: " << line;

  // status reads the URL from EVOSEARCH_JOB_STORE, or a file that only its owner can read.
  const std::string from_env = status_json("");
  EXPECT_NE(from_env.find("\"done\": 4"), std::string::npos) << from_env;
  EXPECT_EQ(from_env.find(password_), std::string::npos) << from_env;
  ::unsetenv("EVOSEARCH_JOB_STORE");
  const std::string file = base_ + "/store-url";
  std::ofstream(file) << url_ << "\n";
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  const std::string refused = status_json("--job-store-file " + file);
  EXPECT_NE(refused.find("chmod 600"), std::string::npos) << refused;
  EXPECT_EQ(refused.find(password_), std::string::npos) << refused;
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
  const std::string from_file = status_json("--job-store-file " + file);
  EXPECT_NE(from_file.find("\"done\": 4"), std::string::npos) << from_file;
  EXPECT_EQ(from_file.find(password_), std::string::npos) << from_file;

  // The template's other way: EVOSEARCH_JOB_STORE_FILE (a second task finds the suite done).
  const std::string second_log = base_ + "/job/slurm-task-2.out";
  seen_.clear();
  const pid_t second = start_logged("env EVOSEARCH_JOB_STORE_FILE=" + file + " " + array_task, second_log);
  ASSERT_EQ(wait_watching(second, second_log), 0) << read_text(second_log);
  EXPECT_NE(read_text(second_log).find("redis://127.0.0.1:"), std::string::npos) << "the job in Redis\n"
                                                                                 << read_text(second_log);
  for (const std::string& line : seen_) ADD_FAILURE() << "a command line held the password: " << line;
  fs::remove(file);
  expect_no_file_holds_it();
}

TEST_F(Secrets, APasswordInTheSpecOrOnTheCommandLineIsRedactedEverywhere) {
  const std::string spec = write_job(url_);
  const std::string log = base_ + "/job/run.log";
  // The worst case: the URL on the command line too. evosearch overwrites it there as soon as
  // the arguments are parsed, and says why.
  const pid_t run = start_logged(std::string(EVOSEARCH_BINARY) + " run " + spec + " --threads 1 --lease-seconds 2 "
                                     "--job-store " + url_,
                                 log);
  ASSERT_EQ(wait_watching(run, log, "this run is"), 0) << read_text(log);
  EXPECT_GE(scans_, 3) << "the job ran too briefly to look at its command line";
  for (const std::string& line : seen_) ADD_FAILURE() << "a command line held the password: " << line;
  EXPECT_NE(read_text(log).find("password was on the command line"), std::string::npos) << read_text(log);
  const proto::JobResults results = testing_support::results_of(spec);
  EXPECT_EQ(results.spec().job_store(), "redis://:***@127.0.0.1:" + url_.substr(url_.rfind(':') + 1));
  expect_no_file_holds_it();
}

}  // namespace
}  // namespace evosearch
