// A version 2 bundle (token embeddings, a mask and a pooled vector per prompt, and a guidance
// reward that reads the prompt text) with each search method: the prompt that says "bright" gets
// the reward's bonus and the others do not (so the reward saw each sample's own prompt, also in
// mixed-prompt batches), and 1 coordinator + 2 workers under mpirun give the embedded run's
// answers (the workers encode the parts and hold the texts too), also with the reward moved out of
// the process into the reference reward service (models/reward_server.py, the same reward).
#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "distributed_jobs.h"
#include "reward_server.h"
#include "run_evosearch.h"
#include "skip_or_fail.h"
#include "text_reward_bundle.h"
#include "token_bundle.h"

namespace evosearch {
namespace {

using testing_support::CommandResult;
using testing_support::results_of;

// With `service`, the guidance reward is the reference server on bundle/reward.sock instead.
std::string make_text_job(const std::string& dir, const std::string& search, bool service = false) {
  testing_support::TinyBundle bundle = testing_support::token_bundle();
  if (service) {
    bundle.reward.clear();
    bundle.manifest = testing_support::replaced(bundle.manifest, R"("file": "rewards/brightness.pt")",
                                                R"("service": "unix:reward.sock")");
  } else {
    bundle.reward = testing_support::text_reward_bundle().reward;
    bundle.manifest = testing_support::replaced(bundle.manifest, R"("guidance": true)",
                                                R"("guidance": true, "input": "PROMPT_TEXT")");
  }
  bundle.write(dir + "/bundle");
  std::ofstream(dir + "/suite.txt") << "a bag\na dark coat\na tiny dress\na bright sandal\na plain top\na long skirt\n";
  std::ofstream(dir + "/job.json") << R"({"bundle": "bundle", "prompts": "suite.txt", "output": "out", "seed": 5,
    "sampler": {"steps": 12}, "batch_size": 4, "batch_size_policy": "fixed", "search": )" << search << "}";
  return dir + "/job.json";
}

TEST(MpiBundleV2, EveryMethodScoresTheSamplesOwnPromptAndThreeRanksAgree) {
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  const std::pair<const char*, const char*> methods[] = {
      {"evosearch", R"({"method": "evosearch", "evolution_steps": [0, 4, 8], "population": [6, 3, 3, 3], "elites": 1})"},
      {"best-of-n", R"({"method": "best-of-n", "n": 6})"},
      {"particles", R"({"method": "particles", "particles": 4, "resample_interval": 4})"},
      {"lookahead", R"({"method": "evosearch-lookahead", "model_calls_budget": 120})"}};
  const bool have_server = std::system("/usr/bin/python3 -c 'import google.protobuf' >/dev/null 2>&1") == 0 &&
                           std::system("protoc --version >/dev/null 2>&1") == 0;
  if (!have_server) EVOSEARCH_SKIP_UNLESS_CI("python3-protobuf or protoc", "the reference reward server needs both");
  const std::string base = testing_support::fresh_dir("mpi-bundle-v2");
  for (const auto& [name, search] : methods) {
    const std::string embedded = make_text_job(base + "/" + name + "-embedded", search);
    const CommandResult e = testing_support::run_evosearch("run " + embedded + " --threads 1");
    ASSERT_EQ(e.code, 0) << name << "\n" << e.output;
    const proto::JobResults results = results_of(embedded);
    ASSERT_EQ(results.prompts_size(), 6) << name;
    for (const proto::PromptOutcome& p : results.prompts()) {
      const double score = p.scores().at("brightness");
      const bool bright = p.prompt().find("bright") != std::string::npos;
      EXPECT_GE(score, bright ? 10.0 : 0.0) << name << ": " << p.prompt();
      EXPECT_LT(score, bright ? 11.0 : 1.0) << name << ": " << p.prompt();
    }
    const std::string spec = make_text_job(base + "/" + name + "-3ranks", search);
    const CommandResult r = testing_support::run_shell("mpirun -n 3 --oversubscribe " + std::string(EVOSEARCH_BINARY) +
                                                       " run " + spec + " --threads 1");
    ASSERT_EQ(r.code, 0) << name << "\n" << r.output;
    testing_support::expect_same_answers(spec, embedded, std::string(name) + " on 3 ranks");
    EXPECT_EQ(results_of(spec).totals().workers(), 2) << name;
    // The reward out of the process, on 3 ranks: each worker sends its batches' pixels and prompts.
    const std::string served = make_text_job(base + "/" + name + "-service", search, true);
    testing_support::RewardServer server(base + "/" + name + "-service/bundle/reward.sock");
    ASSERT_TRUE(server.listening()) << server.log();
    const CommandResult s = testing_support::run_shell("mpirun -n 3 --oversubscribe " + std::string(EVOSEARCH_BINARY) +
                                                       " run " + served + " --threads 1");
    ASSERT_EQ(s.code, 0) << name << "\n" << s.output << server.log();
    testing_support::expect_same_answers(served, embedded, std::string(name) + " with the reward as a service");
  }
}

}  // namespace
}  // namespace evosearch
