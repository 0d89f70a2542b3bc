// Wan 2.1's transformer as a version 2 bundle, end to end: models/export_wan.py --scale tiny
// (random weights in the official layout, random stand-in text embeddings) writes a bundle that
// `evosearch check` accepts with its token conditions, mask and text-reading reward, and that
// `evosearch run` searches with EvoSearch to an answer per prompt. The layout itself (every name
// and shape at 1.3B against the official list) is tests/wan_model_test.py (ctest WanModel.Python).
#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "distributed_jobs.h"
#include "job_results_file.h"
#include "media/image_io.h"
#include "run_evosearch.h"
#include "skip_or_fail.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

using testing_support::CommandResult;

const char* kPrompts[] = {"a red fox running through snow", "a sailing boat at dusk", "a green hill"};

class WanBundle : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
      EVOSEARCH_SKIP_UNLESS_CI("python3-torch", "models/export_wan.py runs with /usr/bin/python3's torch");
    }
  }

  // Exports the tiny bundle into `dir`/bundle for the suite `dir`/suite.txt; the bundle folder.
  static std::string export_tiny(const std::string& dir) {
    std::ofstream suite(dir + "/suite.txt");
    for (const char* p : kPrompts) suite << p << "\n";
    suite.close();
    const CommandResult r = testing_support::run_shell(
        "/usr/bin/python3 " EVOSEARCH_SOURCE_DIR "/models/export_wan.py --scale tiny --out " + dir +
        "/bundle --random-text-embeddings " + dir + "/suite.txt");
    EXPECT_EQ(r.code, 0) << r.output;
    return dir + "/bundle";
  }
};

TEST_F(WanBundle, CheckDescribesTheTokenConditionsAndTheTextReadingReward) {
  const std::string bundle = export_tiny(testing_support::fresh_dir("wan-check"));
  const CommandResult r = testing_support::run_evosearch("check --bundle " + bundle);
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* line : {"OK (every module dry-ran", "wan21-t2v-tiny", "FLOW, predicts VELOCITY",
                           "latent     [16,3,8,8] -> pixels [3,9,64,64]",
                           "condition  tokens [8,24], mask [8] (200 numbers per prompt), from conditions.pt",
                           "prompt-colour (guidance) (reads the prompt text)"}) {
    EXPECT_NE(r.output.find(line), std::string::npos) << "no '" << line << "' in\n" << r.output;
  }
  // The modules follow their inputs' dtype (norms, modulation and softmax in float32 inside), so
  // the bundle also dry-runs in bfloat16, as it would on a GPU with --dtype bf16.
  const CommandResult bf16 = testing_support::run_evosearch("check --bundle " + bundle + " --dtype bf16");
  EXPECT_EQ(bf16.code, 0) << bf16.output;
  EXPECT_NE(bf16.output.find("dtype      bf16"), std::string::npos) << bf16.output;
}

// S = 0,4 and K = 4,3,3 over 8 steps: 4*8 + 3*8 + 3*4 = 68 NFE and 10 reward calls per prompt.
TEST_F(WanBundle, EvoSearchRunGivesAnAnswerPerPrompt) {
  const std::string dir = testing_support::fresh_dir("wan-run");
  export_tiny(dir);
  const std::string spec = dir + "/job.json";
  std::ofstream(spec) << R"({"bundle": "bundle", "prompts": "suite.txt", "output": "out", "seed": 3,
    "sampler": {"steps": 8}, "batch_size": 4, "batch_size_policy": "fixed",
    "search": {"method": "evosearch", "evolution_steps": [0, 4], "population": [4, 3, 3], "elites": 1}})";
  const CommandResult r = testing_support::run_evosearch("run " + spec + " --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  const proto::JobResults results = testing_support::results_of(spec);
  EXPECT_EQ(results.method(), "evosearch");
  ASSERT_EQ(results.prompts_size(), 3) << r.output;
  EXPECT_EQ(results.totals().nfe(), 3 * 68);
  EXPECT_EQ(results.totals().reward_calls(), 3 * 10);
  for (int i = 0; i < 3; ++i) {
    const proto::PromptOutcome& p = results.prompts(i);
    SCOPED_TRACE(p.prompt());
    EXPECT_EQ(p.prompt(), kPrompts[i]);
    EXPECT_EQ(p.nfe(), 68);
    EXPECT_EQ(p.generations_size(), 3);
    // Minus a mean squared distance of colours in [0, 1]: within [-1, 0]; exactly 0 would be a
    // reward that did not look.
    ASSERT_EQ(p.scores().count("prompt-colour"), 1u);
    EXPECT_LT(p.scores().at("prompt-colour"), 0.0);
    EXPECT_GE(p.scores().at("prompt-colour"), -1.0);
    // The answer's 9 frames of 64 x 64 (the decoder's 1 + 4 * 2 frames, 8x the 8 x 8 latent) side by side.
    auto strip = read_png(dir + "/out/" + p.image());
    ASSERT_TRUE(strip.ok()) << strip.status().to_string();
    EXPECT_EQ(strip->width, 1 + 9 * (64 + 1));
    EXPECT_EQ(strip->height, 1 + 64 + 1);
    EXPECT_EQ(strip->channels, 3);
  }
}

}  // namespace
}  // namespace evosearch
