// Wan 2.1's transformer as a version 2 bundle, end to end: models/export_wan.py --scale tiny
// (random weights in the official layout, random stand-in text embeddings) writes a bundle that
// `evosearch check` accepts with its token conditions, mask and text-reading reward, and that
// `evosearch run` searches with EvoSearch to an answer per prompt. The layout itself (every name
// and shape at 1.3B against the official list) is tests/wan_model_test.py (ctest WanModel.Python);
// the same job on 3 ranks is tests/mpi_wan_test.cc.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "job_results_file.h"
#include "media/image_io.h"
#include "run_evosearch.h"
#include "skip_or_fail.h"
#include "tiny_bundle.h"
#include "wan_bundle.h"

namespace evosearch {
namespace {

using testing_support::CommandResult;
using testing_support::kWanPrompts;

class WanBundle : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing_support::have_python_torch()) {
      EVOSEARCH_SKIP_UNLESS_CI("python3-torch", "models/export_wan.py runs with /usr/bin/python3's torch");
    }
    dir_ = testing_support::fresh_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    const CommandResult r = testing_support::export_tiny_wan(dir_);
    ASSERT_EQ(r.code, 0) << r.output;
  }

  std::string dir_;  // suite.txt, bundle/ and the jobs
};

TEST_F(WanBundle, CheckDescribesTheTokenConditionsAndTheTextReadingReward) {
  const std::string bundle = dir_ + "/bundle";
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

TEST_F(WanBundle, EvoSearchRunGivesAnAnswerPerPrompt) {
  const std::string spec = testing_support::write_wan_job(dir_, "embedded");
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
    EXPECT_EQ(p.prompt(), kWanPrompts[i]);
    EXPECT_EQ(p.nfe(), 68);
    EXPECT_EQ(p.generations_size(), 3);
    // Minus a mean squared distance of colours in [0, 1]: within [-1, 0]; exactly 0 would be a
    // reward that did not look.
    ASSERT_EQ(p.scores().count("prompt-colour"), 1u);
    EXPECT_LT(p.scores().at("prompt-colour"), 0.0);
    EXPECT_GE(p.scores().at("prompt-colour"), -1.0);
    // The answer's 9 frames of 64 x 64 (the decoder's 1 + 4 * 2 frames, 8x the 8 x 8 latent) side by side.
    auto strip = read_png(std::string(std::filesystem::path(spec).parent_path() / "out" / p.image()));
    ASSERT_TRUE(strip.ok()) << strip.status().to_string();
    EXPECT_EQ(strip->width, 1 + 9 * (64 + 1));
    EXPECT_EQ(strip->height, 1 + 64 + 1);
    EXPECT_EQ(strip->channels, 3);
  }
}

}  // namespace
}  // namespace evosearch
