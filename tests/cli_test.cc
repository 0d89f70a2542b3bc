// The evosearch binary as a user runs it: exit codes, messages, and nothing written when the
// input is bad.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "media/image_io.h"
#include "run_evosearch.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;
using testing_support::fresh_dir;
using testing_support::TinyBundle;

using testing_support::CommandResult;

CommandResult run(const std::string& args) { return testing_support::run_evosearch(args); }

TEST(Cli, HelpExplainsTheCommands) {
  const CommandResult r = run("--help");
  EXPECT_EQ(r.code, 0);
  for (const char* word : {"sample", "check", "EvoSearch"}) EXPECT_NE(r.output.find(word), std::string::npos) << word;
  const CommandResult sample = run("sample --help");
  for (const char* word : {"--bundle", "--prompt", "--guidance", "--seed", "--device"}) {
    EXPECT_NE(sample.output.find(word), std::string::npos) << word;
  }
}

TEST(Cli, SampleWritesAGrid) {
  const std::string bundle = TinyBundle().write(fresh_dir("cli-good"));
  const std::string out = fresh_dir("cli-out") + "/grid.png";
  const CommandResult r = run("sample --bundle " + bundle + " --prompt 'a bag' -n 5 --columns 5 --scale 1 --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  auto image = read_png(out);
  ASSERT_TRUE(image.ok()) << image.status().to_string();
  EXPECT_EQ(image->width, 2 + 5 * (4 + 2));
  EXPECT_EQ(image->height, 2 + 1 * (4 + 2));
  EXPECT_NE(r.output.find("brightness*"), std::string::npos);  // the score table names the guidance reward
  // The same seed gives the same file; another seed does not.
  const std::string again = fresh_dir("cli-again") + "/grid.png";
  ASSERT_EQ(run("sample --bundle " + bundle + " --prompt 'a bag' -n 5 --columns 5 --scale 1 --out " + again).code, 0);
  EXPECT_EQ(read_png(again)->pixels, image->pixels);
  const std::string other = fresh_dir("cli-other") + "/grid.png";
  ASSERT_EQ(run("sample --bundle " + bundle + " --prompt 'a bag' -n 5 --columns 5 --scale 1 --seed 9 --out " + other).code, 0);
  EXPECT_NE(read_png(other)->pixels, image->pixels);
}

TEST(Cli, BrokenBundleWritesNothing) {
  TinyBundle spec;
  spec.denoiser = "\ndef forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:\n    return x.double()\n";
  const std::string bundle = spec.write(fresh_dir("cli-broken"));
  const std::string out_dir = fresh_dir("cli-nothing") + "/results";
  const CommandResult r = run("sample --bundle " + bundle + " --prompt 'a bag' --out " + out_dir + "/grid.png");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("denoiser.pt"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("expected float32"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out_dir));
}

TEST(Cli, BadFlagsAreNamed) {
  const std::string bundle = TinyBundle().write(fresh_dir("cli-flags"));
  const std::string out_dir = fresh_dir("cli-flags-out") + "/results";
  const std::string base = "sample --bundle " + bundle + " --prompt x --out " + out_dir + "/g.png ";
  CommandResult r = run(base + "--sampler heun");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("--sampler"), std::string::npos) << r.output;
  r = run(base + "--log-level loud");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--log-level"), std::string::npos) << r.output;
  r = run(base + "--sampler euler --steps 3 --order 3 --sampler dpmpp-sde");
  EXPECT_NE(r.code, 0);
  r = run("sample --bundle " + bundle + " --prompt x --sampler dpmpp-sde --order 3 --out " + out_dir + "/g.png");
  EXPECT_EQ(r.code, 105);  // CLI11's ValidationError: 1 or 2 only
  EXPECT_NE(r.output.find("--order"), std::string::npos) << r.output;
  r = run("sample --bundle /nonexistent/bundle --prompt x --out " + out_dir + "/g.png");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("/nonexistent/bundle/manifest.json"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out_dir));
}

}  // namespace
}  // namespace evosearch
