// Rewards that read the prompt text (RewardSpec.input PROMPT_TEXT): the reward module receives
// each sample's prompt as a List[str], as real rewards with their own tokenizer (CLIP score,
// ImageReward, HPSv2) need; a mismatch between the declared input and the module's forward()
// is refused when the bundle loads, naming the reward and the input it declares.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "text_reward_bundle.h"
#include "tiny_bundle.h"
#include "worker/bundle.h"
#include "worker/generate.h"

namespace evosearch {
namespace {

using testing_support::fresh_dir;
using testing_support::replaced;
using testing_support::text_reward_bundle;
using testing_support::TinyBundle;

TEST(TextReward, TheRewardReadsEachSamplesPromptText) {
  const std::string dir = text_reward_bundle().write(fresh_dir("text-reward"));
  auto bundle = Bundle::open(dir, at::kCPU);
  ASSERT_TRUE(bundle.ok()) << bundle.status().to_string();
  GenerateOptions options;
  options.sampler = default_sampler((*bundle)->manifest());
  options.guidance_scale = 2.0;
  options.batch_size = 2;
  options.seed = 1;
  // Same length, so the tiny encoder gives both the same condition: only the text tells them apart.
  for (const auto& [prompt, bonus] : {std::pair{"a bright bag", 10.0}, {"a dimmed bag", 0.0}}) {
    auto samples = generate(**bundle, prompt, 3, options);
    ASSERT_TRUE(samples.ok()) << samples.status().to_string();
    ASSERT_EQ(samples->scores.size(), 1u);
    for (int64_t i = 0; i < 3; ++i) {
      const double mean = samples->pixels[i].mean().item<double>();
      EXPECT_NEAR(samples->scores[0][i], bonus + mean, 1e-5) << prompt << " sample " << i;
    }
  }
}

TEST(TextReward, ADeclaredInputTheModuleDoesNotTakeIsRefusedNamingIt) {
  // Declared PROMPT_TEXT, but forward() takes the condition tensor.
  TinyBundle wants_cond;
  wants_cond.manifest = replaced(wants_cond.manifest, R"("guidance": true)", R"("guidance": true, "input": "PROMPT_TEXT")");
  const Status a = Bundle::open(wants_cond.write(fresh_dir("text-declared")), at::kCPU).status();
  ASSERT_FALSE(a.ok());
  for (const char* part : {"reward 'brightness'", "PROMPT_TEXT", "List[str]"}) {
    EXPECT_NE(a.message().find(part), std::string::npos) << "lacks '" << part << "': " << a.message();
  }
  // Takes the text, but declared nothing (CONDITION): the message says how to declare it.
  TinyBundle wants_text = text_reward_bundle();
  wants_text.manifest = replaced(wants_text.manifest, R"(, "input": "PROMPT_TEXT")", "");
  const Status b = Bundle::open(wants_text.write(fresh_dir("text-undeclared")), at::kCPU).status();
  ASSERT_FALSE(b.ok());
  for (const char* part : {"reward 'brightness'", "its input is CONDITION", R"("input": "PROMPT_TEXT")"}) {
    EXPECT_NE(b.message().find(part), std::string::npos) << "lacks '" << part << "': " << b.message();
  }
  // A misspelt input is a manifest error naming the field.
  TinyBundle misspelt = text_reward_bundle();
  misspelt.manifest = replaced(misspelt.manifest, R"("input": "PROMPT_TEXT")", R"("input": "PROMPT")");
  const Status c = Bundle::open(misspelt.write(fresh_dir("text-misspelt")), at::kCPU).status();
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.message().find("input"), std::string::npos) << c.message();
}

}  // namespace
}  // namespace evosearch
