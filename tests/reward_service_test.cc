// Rewards served by another process (RewardSpec.service): a job whose guidance reward is the
// reference server (models/reward_server.py) gives the answers of the same reward in-process; a
// service that dies mid-job stops the job checkpointed with exit 75, and the same command, with
// the service back, finishes with the answers of an uninterrupted run; a service that is not
// running is named at the start; a service's own error is named with the reward and, in a job,
// fails that prompt only.
#include <csignal>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "child_process.h"
#include "job_results_file.h"
#include "reward_server.h"
#include "run_evosearch.h"
#include "skip_or_fail.h"
#include "tiny_bundle.h"
#include "worker/bundle.h"
#include "worker/reward_socket.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;
using testing_support::fresh_dir;
using testing_support::replaced;
using testing_support::run_evosearch;
using testing_support::TinyBundle;
using testing_support::RewardServer;
using testing_support::service_bundle;
using testing_support::make_service_job;

// tests/text_reward_bundle.h's reward, with the mean taken exactly (in float64) and rounded to
// float32, as the reference server computes it, so the two agree to the last bit.
constexpr char kInProcessReward[] = R"(
def forward(self, pixels: Tensor, prompts: List[str]) -> Tensor:
    bonus = torch.zeros(len(prompts))
    for i in range(len(prompts)):
        if prompts[i].find("bright") >= 0:
            bonus[i] = 10.0
    return pixels.double().flatten(1).mean(1).float() + bonus
)";

TinyBundle in_process_bundle() {
  TinyBundle b;
  b.reward = kInProcessReward;
  b.manifest = replaced(b.manifest, R"("guidance": true)", R"("guidance": true, "input": "PROMPT_TEXT")");
  return b;
}

class RewardService : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("/usr/bin/python3 -c 'import google.protobuf' >/dev/null 2>&1") != 0 ||
        std::system("protoc --version >/dev/null 2>&1") != 0) {
      EVOSEARCH_SKIP_UNLESS_CI("python3-protobuf or protoc", "the reference reward server needs both");
    }
  }
};

using testing_support::results_of;

void expect_same_answers(const proto::JobResults& a, const proto::JobResults& b) {
  ASSERT_EQ(a.prompts_size(), b.prompts_size());
  for (int i = 0; i < a.prompts_size(); ++i) {
    EXPECT_EQ(a.prompts(i).prompt(), b.prompts(i).prompt()) << i;
    EXPECT_EQ(a.prompts(i).generation(), b.prompts(i).generation()) << i;
    EXPECT_EQ(a.prompts(i).candidate(), b.prompts(i).candidate()) << i;
    EXPECT_EQ(a.prompts(i).scores().at("brightness"), b.prompts(i).scores().at("brightness")) << i;
  }
}

testing_support::CommandResult run_job(const std::string& spec) { return run_evosearch("run " + spec + " --threads 1"); }

TEST_F(RewardService, AJobGivesTheAnswersOfTheSameRewardInProcess) {
  const std::string base = fresh_dir("reward-service-same");
  const std::string local = make_service_job(base + "/local", in_process_bundle());
  const auto a = run_job(local);
  ASSERT_EQ(a.code, 0) << a.output;

  const std::string served = make_service_job(base + "/served", service_bundle());
  RewardServer server(base + "/served/bundle/reward.sock");
  ASSERT_TRUE(server.listening()) << server.log();
  const auto b = run_job(served);
  ASSERT_EQ(b.code, 0) << b.output;
  expect_same_answers(results_of(served), results_of(local));
  // The prompt text reached the service: its bonus is in the answer.
  const proto::JobResults results = results_of(served);
  ASSERT_EQ(results.prompts_size(), 4);
  EXPECT_EQ(results.prompts(1).prompt(), "a bright sandal");
  EXPECT_GT(results.prompts(1).scores().at("brightness"), 10.0);
  EXPECT_LT(results.prompts(0).scores().at("brightness"), 10.0);
}

TEST_F(RewardService, DyingMidJobStopsCheckpointedAndTheSameCommandResumes) {
  const std::string base = fresh_dir("reward-service-dies");
  const std::string straight = make_service_job(base + "/straight", service_bundle());
  {
    RewardServer server(base + "/straight/bundle/reward.sock");
    ASSERT_TRUE(server.listening()) << server.log();
    const auto r = run_job(straight);
    ASSERT_EQ(r.code, 0) << r.output;
  }

  const std::string spec = make_service_job(base + "/stopped", service_bundle());
  const std::string socket = base + "/stopped/bundle/reward.sock";
  {
    // Answers the dry run and 7 batches, then dies on receiving the next one, leaving its socket.
    RewardServer dying(socket, "--crash-after 8");
    ASSERT_TRUE(dying.listening()) << dying.log();
    const auto r = run_job(spec);
    EXPECT_EQ(r.code, 75) << r.output;
    EXPECT_TRUE(dying.exited()) << "the service should have died on its 9th request";
    for (const std::string& part : std::vector<std::string>{"reward 'brightness'", "unix:" + socket, "out of reach",
                                                            "run the same command again"}) {
      EXPECT_NE(r.output.find(part), std::string::npos) << "lacks '" << part << "': " << r.output;
    }
  }
  // Checkpointed: the finished generations are on disk for the resume.
  const fs::path state = fs::path(base) / "stopped" / "out" / "state";
  int saved = 0;
  for (const auto& entry : fs::recursive_directory_iterator(state)) {
    saved += entry.path().extension() == ".ckpt" || entry.path().extension() == ".shard" ? 1 : 0;
  }
  EXPECT_GT(saved, 0) << "no checkpoint under " << state;
  EXPECT_FALSE(fs::exists(fs::path(base) / "stopped" / "out" / "results.json"));

  RewardServer back(socket);
  ASSERT_TRUE(back.listening()) << back.log();
  const auto resumed = run_job(spec);
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  expect_same_answers(results_of(spec), results_of(straight));
  EXPECT_NE(testing_support::read_text((state / "events.log").string()).find("resume"), std::string::npos);
}

TEST_F(RewardService, NotRunningIsNamedAtTheStart) {
  const std::string base = fresh_dir("reward-service-down");
  const std::string spec = make_service_job(base, service_bundle());
  const auto r = run_job(spec);
  EXPECT_EQ(r.code, 75) << r.output;  // retry later: nothing is lost by waiting for the service
  for (const std::string& part : std::vector<std::string>{"reward 'brightness'", "unix:" + base + "/bundle/reward.sock",
                                                          "out of reach", "connect: No such file or directory"}) {
    EXPECT_NE(r.output.find(part), std::string::npos) << "lacks '" << part << "': " << r.output;
  }
  EXPECT_FALSE(fs::exists(base + "/out/results.json"));
}

// A service's error for a batch is the reward's own error, as a module that raises: the prompt
// is retried alone and failed after max_attempts (exit 3), the others keep their answers.
TEST_F(RewardService, AnErrorForOnePromptFailsThatPromptOnly) {
  const std::string base = fresh_dir("reward-service-poison");
  const std::string local = make_service_job(base + "/local", in_process_bundle());
  const auto a = run_job(local);
  ASSERT_EQ(a.code, 0) << a.output;
  const std::string served = make_service_job(base + "/served", service_bundle());
  RewardServer failing(base + "/served/bundle/reward.sock", "--fail-on dark");
  ASSERT_TRUE(failing.listening()) << failing.log();
  const auto b = run_job(served);
  ASSERT_EQ(b.code, 3) << b.output;
  const proto::JobResults with = results_of(served), without = results_of(local);
  ASSERT_EQ(with.failed_size(), 1);
  EXPECT_EQ(with.failed(0).prompt(), "a dark coat");
  EXPECT_NE(with.failed(0).error().find("reward service 'brightness'"), std::string::npos) << with.failed(0).error();
  EXPECT_NE(with.failed(0).error().find("cannot score prompt 'a dark coat'"), std::string::npos) << with.failed(0).error();
  ASSERT_EQ(with.prompts_size(), 3);
  int j = 0;
  for (int i = 0; i < without.prompts_size(); ++i) {
    if (without.prompts(i).prompt() == "a dark coat") continue;
    EXPECT_EQ(with.prompts(j).prompt(), without.prompts(i).prompt());
    EXPECT_EQ(with.prompts(j).scores().at("brightness"), without.prompts(i).scores().at("brightness")) << i;
    ++j;
  }
}

TEST_F(RewardService, AServicesOwnErrorAndManifestMistakesAreNamed) {
  const std::string dir = service_bundle().write(fresh_dir("reward-service-error"));
  RewardServer other(dir + "/reward.sock", "--reward aesthetics");  // answers another reward only
  ASSERT_TRUE(other.listening()) << other.log();
  const Status refused = Bundle::open(dir, at::kCPU).status();
  ASSERT_FALSE(refused.ok());
  for (const char* part : {"reward service 'brightness'", "could not score the batch", "scores 'aesthetics'"}) {
    EXPECT_NE(refused.message().find(part), std::string::npos) << "lacks '" << part << "': " << refused.message();
  }

  TinyBundle both = service_bundle();
  both.manifest = replaced(both.manifest, R"("service": "unix:reward.sock")",
                           R"("service": "unix:reward.sock", "file": "rewards/brightness.pt")");
  const Status twice = Bundle::open(both.write(fresh_dir("reward-service-both")), at::kCPU).status();
  EXPECT_NE(twice.message().find("exactly one of \"file\""), std::string::npos) << twice.to_string();

  TinyBundle cond = service_bundle();
  cond.manifest = replaced(cond.manifest, R"("guidance": true)", R"("guidance": true, "input": "CONDITION")");
  const Status takes_cond = Bundle::open(cond.write(fresh_dir("reward-service-cond")), at::kCPU).status();
  EXPECT_NE(takes_cond.message().find("PROMPT_TEXT"), std::string::npos) << takes_cond.to_string();
}

// A misbehaving service on `path`, in this process: replies to each request with `scores`
// numbers, or, with scores < 0, reads requests and never replies.
class FakeService {
 public:
  FakeService(const std::string& path, int scores) : scores_(scores) {
    listener_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    ::unlink(path.c_str());
    EXPECT_EQ(::bind(listener_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0) << path;
    EXPECT_EQ(::listen(listener_, 8), 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeService() {
    ::shutdown(listener_, SHUT_RDWR);  // ends accept()
    thread_.join();
    for (int fd : connections_) ::close(fd);
    ::close(listener_);
  }
 private:
  void serve() {
    for (int fd; (fd = ::accept(listener_, nullptr, nullptr)) >= 0;) {
      connections_.push_back(fd);
      uint32_t size = 0;
      while (::recv(fd, &size, 4, MSG_WAITALL) == 4) {
        std::string body(size, '\0');
        if (::recv(fd, body.data(), size, MSG_WAITALL) != static_cast<ssize_t>(size)) break;
        if (scores_ < 0) continue;  // silent
        proto::ScoreReply reply;
        for (int i = 0; i < scores_; ++i) reply.add_scores(0.5);
        const std::string out = reply.SerializeAsString();
        const uint32_t n = static_cast<uint32_t>(out.size());
        if (::send(fd, &n, 4, MSG_NOSIGNAL) != 4 || ::send(fd, out.data(), n, MSG_NOSIGNAL) != n) break;
      }
    }
  }

  const int scores_;
  int listener_ = -1;
  std::vector<int> connections_;  // the serving thread's until it ends
  std::thread thread_;
};

TEST(RewardServiceClient, AWrongNumberOfScoresIsNamedWithTheReward) {
  const std::string dir = service_bundle().write(fresh_dir("reward-service-count"));
  FakeService one_score(dir + "/reward.sock", 1);
  const Status refused = Bundle::open(dir, at::kCPU).status();  // the dry run scores a batch of 2
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("reward service 'brightness' (unix:" + dir + "/reward.sock) returned 1 scores for a "
                                   "batch of 2"),
            std::string::npos)
      << refused.message();
}

TEST(RewardServiceClient, ASilentServiceIsRetriedThenUnavailable) {
  const std::string path = fresh_dir("reward-service-silent") + "/reward.sock";
  FakeService silent(path, -1);
  RewardSocketOptions options;
  options.path = path;
  options.reward = "judge";
  options.timeout_seconds = 0.05;
  options.attempts = 3;
  options.first_backoff_seconds = 0.01;
  RewardSocket socket(options);
  proto::ScoreRequest request;
  request.set_reward("judge");
  const auto reply = socket.call(request);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kUnavailable);
  for (const char* part : {"reward 'judge'", "no reply within 0.05 s", "3 tries"}) {
    EXPECT_NE(reply.status().message().find(part), std::string::npos) << part << ": " << reply.status().message();
  }
}

}  // namespace
}  // namespace evosearch
