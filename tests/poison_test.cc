// Poison prompts (JobSpec.max_attempts): a prompt whose own model calls fail (its encoder raises,
// a module gives NaN on its rollouts) is failed after max_attempts claims, with its error in
// results.json, the report and `evosearch status`, and the job finishes the other prompts with
// the answers of a job without it, exiting 3. A failure of the machine (the coordinator
// SIGKILLed) charges nothing.
#include <chrono>
#include <cstdio>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "child_process.h"
#include "common/atomic_file.h"
#include "evosearch/job.pb.h"
#include "evosearch/job_records.pb.h"
#include "job_results_file.h"
#include "poison_jobs.h"
#include "run_evosearch.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;
using testing_support::CommandResult;
using testing_support::fresh_dir;

constexpr int kSomePromptsFailed = 3;  // README, "Poison prompts"

// A job folder named `name` with `bundle`, the suite `prompts` and a spec (`extra` appended to it).
std::string make_job(const std::string& name, const testing_support::TinyBundle& bundle, const std::string& prompts,
                     const std::string& extra = "") {
  return testing_support::make_poison_job(fresh_dir(name), bundle, prompts, extra);
}

using testing_support::nan_reward;
using testing_support::raising_encoder;

std::string out_of(const std::string& spec) { return (fs::path(spec).parent_path() / "out").string(); }

using testing_support::results_of;

// The prompts of `with` that `without` has too hold the same answers.
void expect_same_answers(const proto::JobResults& with, const proto::JobResults& without) {
  ASSERT_EQ(with.prompts_size(), without.prompts_size());
  for (int i = 0; i < with.prompts_size(); ++i) {
    const proto::PromptOutcome &a = with.prompts(i), &b = without.prompts(i);
    EXPECT_EQ(a.prompt(), b.prompt());
    EXPECT_EQ(a.generation(), b.generation()) << a.prompt();
    EXPECT_EQ(a.candidate(), b.candidate()) << a.prompt();
    EXPECT_EQ(a.scores().at("brightness"), b.scores().at("brightness")) << a.prompt();
    EXPECT_TRUE(std::isfinite(a.scores().at("brightness"))) << a.prompt();
  }
}

// The clean answers: the same job without the poison prompt, on the clean tiny bundle.
proto::JobResults clean_answers(const std::string& name) {
  const std::string spec = make_job(name, testing_support::TinyBundle(), "a bag\na dark coat\n");
  const CommandResult r = testing_support::run_evosearch("run " + spec + " --threads 1");
  EXPECT_EQ(r.code, 0) << r.output;
  return results_of(spec);
}

// The file store's record of prompt `i`.
proto::PromptRecord record_of(const std::string& spec, int i) {
  char name[32];
  std::snprintf(name, sizeof name, "/state/prompt-%05d.json", i);
  proto::PromptRecord record;
  auto text = read_file(out_of(spec) + name);
  EXPECT_TRUE(text.ok()) << name;
  if (text.ok()) {
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(*text, &record).ok()) << *text;
  }
  return record;
}

// Results, report and status all name the failed prompt, its attempts and its error.
void expect_failed_everywhere(const std::string& spec, uint32_t attempts, const std::string& error) {
  const proto::JobResults results = results_of(spec);
  ASSERT_EQ(results.failed_size(), 1);
  const proto::FailedPrompt& f = results.failed(0);
  EXPECT_EQ(f.index(), 1u);
  EXPECT_EQ(f.prompt(), "poison");
  EXPECT_EQ(f.attempts(), attempts);
  EXPECT_NE(f.error().find(error), std::string::npos) << f.error();
  auto page = read_file(out_of(spec) + "/report.html");
  ASSERT_TRUE(page.ok());
  EXPECT_NE(page->find("Failed prompts"), std::string::npos);
  const CommandResult status = testing_support::run_evosearch("status " + out_of(spec));
  EXPECT_EQ(status.code, 0) << status.output;
  EXPECT_NE(status.output.find("failed 1"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("failed prompt 1 'poison' after " + std::to_string(attempts) + " attempts: "),
            std::string::npos) << status.output;
  EXPECT_NE(status.output.find(error), std::string::npos) << status.output;
  const CommandResult json = testing_support::run_evosearch("status --json " + out_of(spec));
  EXPECT_NE(json.output.find("\"failed\": 1"), std::string::npos) << json.output;
  EXPECT_NE(json.output.find("\"attempts\":" + std::to_string(attempts)), std::string::npos) << json.output;
}

TEST(Poison, APromptWhoseEncoderRaisesFailsAfterMaxAttemptsAndTheOthersFinish) {
  const proto::JobResults clean = clean_answers("poison-encoder-clean");
  const std::string spec = make_job("poison-encoder", raising_encoder(), "a bag\npoison\na dark coat\n");
  const CommandResult r = testing_support::run_evosearch("run " + spec + " --threads 1");
  ASSERT_EQ(r.code, kSomePromptsFailed) << r.output;
  EXPECT_NE(r.output.find("FAILED 1 'poison' after 3 attempts"), std::string::npos) << r.output;  // the summary
  expect_same_answers(results_of(spec), clean);
  expect_failed_everywhere(spec, 3, "the encoder cannot read this prompt");
  // max_attempts is no part of the job's identity: a resume may change it. A failed prompt stays
  // failed (--restart queues it again).
  std::string text = *read_file(spec);
  text.insert(text.rfind('}'), R"(, "max_attempts": 5)");
  std::ofstream(spec) << text;
  const CommandResult again = testing_support::run_evosearch("run " + spec + " --threads 1");
  EXPECT_EQ(again.code, kSomePromptsFailed) << again.output;
  expect_failed_everywhere(spec, 3, "the encoder cannot read this prompt");
}

// The NaN comes in batches that mix the three prompts' candidates: none is charged for a mixed
// batch; each is retried alone, and only the poison prompt fails alone.
TEST(Poison, ANaNInAMixedBatchIsChargedOnlyToThePromptThatFailsAlone) {
  const proto::JobResults clean = clean_answers("poison-nan-clean");
  const std::string spec = make_job("poison-nan", nan_reward(), "a bag\npoison\na dark coat\n", R"(, "max_attempts": 2)");
  const CommandResult r = testing_support::run_evosearch("run " + spec + " --threads 1");
  ASSERT_EQ(r.code, kSomePromptsFailed) << r.output;
  EXPECT_NE(r.output.find("retried alone"), std::string::npos) << r.output;
  expect_same_answers(results_of(spec), clean);
  expect_failed_everywhere(spec, 2, "NaN");
  for (const int innocent : {0, 2}) {  // the mixed batch charged neither: each was claimed once
    const proto::PromptRecord record = record_of(spec, innocent);
    EXPECT_EQ(record.status(), proto::PROMPT_DONE) << innocent;
    EXPECT_EQ(record.attempts(), 1u) << innocent;
  }
}

TEST(Poison, MaxAttemptsOutOfRangeIsRefusedNamingTheField) {
  for (const std::string value : {"-1", "1001"}) {
    const std::string spec = make_job("poison-spec", testing_support::TinyBundle(), "a bag\n", R"(, "max_attempts": )" + value);
    const CommandResult r = testing_support::run_evosearch("run " + spec);
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("max_attempts: expected 1..1000"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out_of(spec)));
  }
}

// SIGKILLing the coordinator is the machine's failure: prompts claimed more often than
// max_attempts (1 here) still finish, and only the poison prompt, failing on its own, is failed.
TEST(Poison, KillsAreNotChargedToPrompts) {
  const proto::JobResults clean = clean_answers("poison-kill-clean");
  const std::string spec = make_job("poison-kill", nan_reward(), "a bag\npoison\na dark coat\n", R"(, "max_attempts": 1)");
  const std::string state = out_of(spec) + "/state";
  for (int kill = 0; kill < 2; ++kill) {
    // Killed once it commits a checkpoint (a new one: the file store keeps one file per prompt).
    const auto checkpoints = [&] {
      std::map<std::string, fs::file_time_type> times;
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(state, ec)) {
        if (entry.path().extension() == ".ckpt") times[entry.path().string()] = entry.last_write_time(ec);
      }
      return times;
    };
    const auto before = checkpoints();
    const pid_t pid = testing_support::start_logged(std::string(EVOSEARCH_BINARY) + " run " + spec + " --threads 1",
                                                    spec + ".log");
    bool checkpointed = false;
    for (int i = 0; i < 20000 && !checkpointed; ++i) {
      checkpointed = checkpoints() != before;
      if (!checkpointed) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ::kill(pid, SIGKILL);
    const int code = testing_support::wait_exit(pid, 60);
    ASSERT_TRUE(checkpointed) << "exit " << code << "\n" << testing_support::read_text(spec + ".log");
  }
  const CommandResult r = testing_support::run_evosearch("run " + spec + " --threads 1");
  ASSERT_EQ(r.code, kSomePromptsFailed) << r.output;
  const proto::JobResults results = results_of(spec);
  expect_same_answers(results, clean);
  ASSERT_EQ(results.failed_size(), 1);
  EXPECT_EQ(results.failed(0).prompt(), "poison");
  // "a dark coat" was claimed by each killed run and the last: 3 claims, with max_attempts 1.
  const proto::PromptRecord coat = record_of(spec, 2);
  EXPECT_EQ(coat.status(), proto::PROMPT_DONE);
  EXPECT_EQ(coat.attempts(), 3u);
}

}  // namespace
}  // namespace evosearch
