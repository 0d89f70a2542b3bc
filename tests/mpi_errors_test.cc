// Errors on worker ranks under mpirun (a coordinator and 2 workers) come back with their codes
// (coordinator/distributed_executor.h), so the job meets them as the embedded run does: a poison
// prompt (its encoder raises, or its reward is NaN in batches that mix prompts) is failed after
// max_attempts with the embedded run's error and attempts while the others keep the embedded
// run's answers (exit 3); a reward service that dies mid-job stops the job checkpointed (exit 75),
// and the same command, with the service back, gives the answers of an uninterrupted run; one
// not up at the start ends the job with exit 75 too.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "common/atomic_file.h"
#include "distributed_jobs.h"
#include "evosearch/job_records.pb.h"
#include "job_results_file.h"
#include "poison_jobs.h"
#include "reward_server.h"
#include "run_evosearch.h"
#include "skip_or_fail.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;
using testing_support::CommandResult;
using testing_support::fresh_dir;
using testing_support::results_of;
using testing_support::run_shell;

constexpr int kSomePromptsFailed = 3;  // README, "Poison prompts"

std::string mpirun3(const std::string& spec) {
  return "mpirun -n 3 --oversubscribe " + std::string(EVOSEARCH_BINARY) + " run " + spec + " --threads 1";
}

class MpiErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
  }
};

// The suite with the poison prompt, embedded and under mpirun: the same failed prompt (error,
// attempts) and the same answers for the others.
void same_outcome_as_embedded(const std::string& name, const testing_support::TinyBundle& bundle, const std::string& extra) {
  const std::string base = fresh_dir(name);
  const std::string prompts = "a bag\npoison\na dark coat\n";
  const std::string embedded = testing_support::make_poison_job(base + "/embedded", bundle, prompts, extra);
  const CommandResult e = testing_support::run_evosearch("run " + embedded + " --threads 1");
  ASSERT_EQ(e.code, kSomePromptsFailed) << e.output;
  const std::string spec = testing_support::make_poison_job(base + "/mpi", bundle, prompts, extra);
  const CommandResult r = run_shell(mpirun3(spec));
  ASSERT_EQ(r.code, kSomePromptsFailed) << r.output;
  const proto::JobResults with = results_of(spec), reference = results_of(embedded);
  ASSERT_EQ(with.failed_size(), 1) << r.output;
  ASSERT_EQ(reference.failed_size(), 1);
  EXPECT_EQ(with.failed(0).index(), 1u);
  EXPECT_EQ(with.failed(0).prompt(), "poison");
  EXPECT_EQ(with.failed(0).attempts(), reference.failed(0).attempts());
  // Word for word, but for the job folder in a module's path.
  EXPECT_EQ(testing_support::replaced(with.failed(0).error(), base + "/mpi/", base + "/embedded/"),
            reference.failed(0).error());
  testing_support::expect_same_answers(spec, embedded, name);
  for (const int innocent : {0, 2}) {  // neither was charged: each was claimed once
    proto::PromptRecord record;
    const auto text = read_file(base + "/mpi/out/state/prompt-0000" + std::to_string(innocent) + ".json");
    ASSERT_TRUE(text.ok()) << text.status().to_string();
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*text, &record).ok()) << *text;
    EXPECT_EQ(record.status(), proto::PROMPT_DONE) << innocent;
    EXPECT_EQ(record.attempts(), 1u) << innocent;
  }
}

TEST_F(MpiErrors, APromptWhoseEncoderRaisesFailsAsEmbedded) {
  same_outcome_as_embedded("mpi-poison-encoder", testing_support::raising_encoder(), "");
}

TEST_F(MpiErrors, ANaNInAMixedBatchFailsOnlyThePoisonPromptAsEmbedded) {
  same_outcome_as_embedded("mpi-poison-nan", testing_support::nan_reward(), R"(, "max_attempts": 2)");
}

TEST_F(MpiErrors, ARewardServiceDyingMidJobStopsCheckpointedAndTheSameCommandResumes) {
  if (std::system("/usr/bin/python3 -c 'import google.protobuf' >/dev/null 2>&1") != 0 ||
      std::system("protoc --version >/dev/null 2>&1") != 0) {
    EVOSEARCH_SKIP_UNLESS_CI("python3-protobuf or protoc", "the reference reward server needs both");
  }
  const std::string base = fresh_dir("mpi-reward-service-dies");
  const std::string straight = testing_support::make_service_job(base + "/straight", testing_support::service_bundle());
  {
    testing_support::RewardServer server(base + "/straight/bundle/reward.sock");
    ASSERT_TRUE(server.listening()) << server.log();
    const CommandResult r = run_shell(mpirun3(straight));
    ASSERT_EQ(r.code, 0) << r.output;
  }

  const std::string spec = testing_support::make_service_job(base + "/stopped", testing_support::service_bundle());
  const std::string socket = base + "/stopped/bundle/reward.sock";
  {
    // Answers each worker's dry run and 8 batches, then dies on receiving the next one.
    testing_support::RewardServer dying(socket, "--crash-after 10");
    ASSERT_TRUE(dying.listening()) << dying.log();
    const CommandResult r = run_shell(mpirun3(spec));
    EXPECT_EQ(r.code, 75) << r.output;
    EXPECT_TRUE(dying.exited()) << "the service should have died on its 11th request";
    for (const std::string& part : std::vector<std::string>{"reward 'brightness'", "unix:" + socket, "out of reach"}) {
      EXPECT_NE(r.output.find(part), std::string::npos) << "lacks '" << part << "': " << r.output;
    }
  }
  const fs::path state = fs::path(base) / "stopped" / "out" / "state";
  int saved = 0;
  for (const auto& entry : fs::recursive_directory_iterator(state)) {
    saved += entry.path().extension() == ".ckpt" || entry.path().extension() == ".shard" ? 1 : 0;
  }
  EXPECT_GT(saved, 0) << "no checkpoint under " << state;
  EXPECT_FALSE(fs::exists(fs::path(base) / "stopped" / "out" / "results.json"));

  testing_support::RewardServer back(socket);
  ASSERT_TRUE(back.listening()) << back.log();
  const CommandResult resumed = run_shell(mpirun3(spec));
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  testing_support::expect_same_answers(spec, straight, "resumed");
  EXPECT_NE(testing_support::read_text((state / "events.log").string()).find("resume"), std::string::npos);
}

// Not up when the workers open the bundle: exit 75 as in process (nothing is lost by waiting).
TEST_F(MpiErrors, ARewardServiceNotRunningAtTheStartExits75) {
  const std::string base = fresh_dir("mpi-reward-service-down");
  const std::string spec = testing_support::make_service_job(base, testing_support::service_bundle());
  const CommandResult r = run_shell(mpirun3(spec));
  EXPECT_EQ(r.code, 75) << r.output;
  for (const std::string& part : std::vector<std::string>{"reward 'brightness'", "out of reach"}) {
    EXPECT_NE(r.output.find(part), std::string::npos) << "lacks '" << part << "': " << r.output;
  }
  EXPECT_FALSE(fs::exists(base + "/out/results.json"));
}

}  // namespace
}  // namespace evosearch
