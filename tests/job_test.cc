// `evosearch run` end to end on a tiny bundle: outputs, accounting, refusals.
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "coordinator/job_spec.h"
#include "coordinator/yaml_to_json.h"
#include "evosearch/job.pb.h"
#include "common/atomic_file.h"
#include "media/image_io.h"
#include "jobs/output_lock.h"
#include "media/video_io.h"
#include "job_results_file.h"
#include "run_evosearch.h"
#include "skip_or_fail.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;
using testing_support::fresh_dir;

using testing_support::CommandResult;

CommandResult run(const std::string& args) { return testing_support::run_evosearch(args); }

// A job folder with a tiny bundle, a 3-prompt suite and a spec; returns the spec path.
std::string make_job(const std::string& name, const std::string& search, const std::string& extra = "") {
  const std::string dir = fresh_dir(name);
  testing_support::TinyBundle().write(dir + "/bundle");
  std::ofstream(dir + "/suite.txt") << "a bag\n# a comment\na dark coat\n\na bag\n";
  std::ofstream(dir + "/job.json") << R"({"bundle": "bundle", "prompts": "suite.txt", "output": "out", "seed": 5,
    "sampler": {"steps": 12}, "batch_size": 4, "search": )" << search << extra << "}";
  return dir + "/job.json";
}

proto::JobResults read_results(const std::string& spec) {
  return testing_support::read_job_results((fs::path(spec).parent_path() / "out" / "results.json").string());
}

TEST(Job, EvoSearchWritesImagesAndResults) {
  const std::string spec = make_job("job-evo",
      R"({"method": "evosearch", "evolution_steps": [0, 4, 8], "population": [5, 3, 3, 3], "elites": 1})",
      R"(, "generation_grids": true)");
  const CommandResult r = run("run " + spec);
  ASSERT_EQ(r.code, 0) << r.output;
  const proto::JobResults results = read_results(spec);
  EXPECT_EQ(results.method(), "evosearch");
  ASSERT_EQ(results.prompts_size(), 3);
  const int nfe = 5 * 12 + 3 * 12 + 3 * 8 + 3 * 4;
  EXPECT_EQ(results.totals().nfe(), 3 * nfe);
  EXPECT_EQ(results.totals().reward_calls(), 3 * 14);
  EXPECT_GT(results.totals().wall_seconds(), 0);
  const fs::path out = fs::path(spec).parent_path() / "out";
  for (const auto& p : results.prompts()) {
    EXPECT_EQ(p.nfe(), nfe);
    EXPECT_TRUE(fs::exists(out / p.image())) << p.image();
    EXPECT_EQ(p.scores().count("brightness"), 1u);
  }
  EXPECT_EQ(results.prompts(0).image(), "images/0000-a-bag.png");
  // The repeated prompt gets its own noise, so its own answer.
  EXPECT_NE(results.prompts(0).scores().at("brightness"), results.prompts(2).scores().at("brightness"));
  EXPECT_TRUE(fs::exists(out / "grids" / "0001-a-dark-coat-gen3.png"));
  const auto& m = results.metrics().at("brightness");
  EXPECT_LE(m.min(), m.mean());
  EXPECT_LE(m.mean(), m.max());
  EXPECT_NE(r.output.find("method evosearch"), std::string::npos) << r.output;  // the summary table
}

// A video bundle ([C,F,H,W] latents): the answer is a frame strip PNG, an H.264 MP4 and a GIF
// with one frame per latent frame; generation grids hold one strip per candidate.
TEST(Job, VideoBundleWritesMp4GifAndFrameStrips) {
  if (!video_files_supported()) EVOSEARCH_SKIP_UNLESS_CI("video files", "built without EVOSEARCH_VIDEO_FILES (FFmpeg, libimagequant)");
  const std::string dir = fresh_dir("job-video");
  testing_support::TinyBundle video;
  video.manifest = testing_support::replaced(video.manifest, "\"latent_shape\": [1, 4, 4]", "\"latent_shape\": [1, 5, 4, 6]");
  video.denoiser = R"(
def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
    return 0.5 * x + 0.01 * cond[:, 0].reshape(-1, 1, 1, 1, 1)
)";
  video.write(dir + "/bundle");
  std::ofstream(dir + "/suite.txt") << "a bag moving left\n";
  std::ofstream(dir + "/job.json") << R"({"bundle": "bundle", "prompts": "suite.txt", "output": "out", "seed": 2,
    "sampler": {"steps": 8}, "generation_grids": true,
    "search": {"method": "evosearch", "evolution_steps": [0, 4], "population": [3, 2, 2]}})";
  const CommandResult r = run("run " + dir + "/job.json");
  ASSERT_EQ(r.code, 0) << r.output;
  const proto::JobResults results = read_results(dir + "/job.json");
  ASSERT_EQ(results.prompts_size(), 1);
  const proto::PromptOutcome& p = results.prompts(0);
  EXPECT_EQ(p.image(), "images/0000-a-bag-moving-left.png");
  EXPECT_EQ(p.video(), "videos/0000-a-bag-moving-left.mp4");
  EXPECT_EQ(p.preview(), "previews/0000-a-bag-moving-left.gif");
  const fs::path out = fs::path(dir) / "out";
  auto mp4 = read_video((out / p.video()).string(), 1);
  ASSERT_TRUE(mp4.ok()) << mp4.status().to_string();
  EXPECT_EQ(mp4->frames.size(), 5u);
  EXPECT_EQ(mp4->codec, "h264");
  auto gif = read_video((out / p.preview()).string(), 1);
  ASSERT_TRUE(gif.ok()) << gif.status().to_string();
  EXPECT_EQ(gif->frames.size(), 5u);
  auto strip = read_png((out / p.image()).string());
  ASSERT_TRUE(strip.ok());
  EXPECT_EQ(strip->height, 1 + 4 + 1);
  EXPECT_EQ(strip->width, 1 + 5 * (6 + 1));  // five 6x4 frames in a row, 1-px gaps and border
  auto grid = read_png((out / "grids" / "0000-a-bag-moving-left-gen0.png").string());
  ASSERT_TRUE(grid.ok());
  // One 34x4 strip per row: three rows stand taller than two strips' worth of the width's aspect.
  EXPECT_GT(grid->height * 34, 2 * 4 * grid->width) << grid->width << "x" << grid->height;
}

TEST(Job, WritesTheReportAndTheOfficialLayoutAndStatusReadsTheStore) {
  const std::string spec = make_job("job-status", R"({"method": "evosearch", "evolution_steps": [0, 6], "population": [4, 3, 3]})");
  ASSERT_EQ(run("run " + spec).code, 0);
  const fs::path out = fs::path(spec).parent_path() / "out";
  EXPECT_TRUE(fs::exists(out / "report.html"));
  auto official = read_file((out / "results-official.json").string());
  ASSERT_TRUE(official.ok());
  EXPECT_NE(official->find("\"brightness\": {\"result\": ["), std::string::npos) << *official;
  const CommandResult table = run("status " + out.string());
  ASSERT_EQ(table.code, 0) << table.output;
  EXPECT_NE(table.output.find("JOB_DONE"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("done 3"), std::string::npos) << table.output;
  const CommandResult json = run("status --json " + out.string());
  ASSERT_EQ(json.code, 0) << json.output;
  EXPECT_NE(json.output.find("\"done\": 3"), std::string::npos) << json.output;
  const CommandResult nothing = run("status " + fs::path(spec).parent_path().string());
  EXPECT_EQ(nothing.code, 1);
  EXPECT_NE(nothing.output.find("holds no job records"), std::string::npos) << nothing.output;
}

TEST(Job, ASecondRunOnTheSameOutputFolderIsRefusedNamingTheFirst) {
  const std::string spec = make_job("job-locked", R"({"method": "none"})");
  auto held = OutputLock::acquire((fs::path(spec).parent_path() / "out").string());
  ASSERT_TRUE(held.ok()) << held.status().to_string();
  const CommandResult r = run("run " + spec);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("is in use by another run (pid " + std::to_string(::getpid())), std::string::npos) << r.output;
  held->reset();
  EXPECT_EQ(run("run " + spec).code, 0);
}

// --restart deletes only what the job wrote, and refuses a folder holding anything else.
TEST(Job, RestartRefusesForeignFilesAndDeletesOnlyTheJobsOwn) {
  const std::string spec = make_job("job-restart", R"({"method": "none"})");
  ASSERT_EQ(run("run " + spec + " --restart").code, 0);  // an output folder not made yet
  ASSERT_EQ(run("run " + spec).code, 0);
  const fs::path out = fs::path(spec).parent_path() / "out";
  std::ofstream(out / "images" / "my-notes.txt") << "mine";
  std::ofstream(out / "mine.png") << "not the program's";
  const CommandResult refused = run("run " + spec + " --restart");
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.output.find("holds files this job did not write (images/my-notes.txt, mine.png)"), std::string::npos)
      << refused.output;
  EXPECT_TRUE(fs::exists(out / "images" / "0000-a-bag.png")) << "nothing deleted";
  EXPECT_TRUE(fs::exists(out / "results.json"));
  fs::remove(out / "images" / "my-notes.txt");
  fs::remove(out / "mine.png");
  std::ofstream(out / "state" / "keep.me") << "a user's file in the state folder";
  ASSERT_EQ(run("run " + spec + " --restart").code, 0);
  EXPECT_TRUE(fs::exists(out / "state" / "keep.me"));
  EXPECT_TRUE(fs::exists(out / "images" / "0000-a-bag.png"));
  // A folder that is plainly not a job's own is refused before anything is written.
  std::string text = *read_file(spec);
  text.replace(text.find("\"output\": \"out\""), 15, "\"output\": \"/\"");
  std::ofstream(spec) << text;
  const CommandResult root = run("run " + spec + " --restart");
  EXPECT_EQ(root.code, 1);
  EXPECT_NE(root.output.find("is the root folder"), std::string::npos) << root.output;
  EXPECT_FALSE(fs::exists("/state/run.lock"));
}

TEST(Job, BaselinesMatchTheEvoSearchBudget) {
  const std::string evo = R"("evolution_steps": [0, 4, 8], "population": [5, 3, 3, 3])";
  for (const std::string method : {"best-of-n", "particles"}) {
    const std::string spec = make_job("job-" + method, R"({"method": ")" + method + R"(", )" + evo + "}");
    const CommandResult r = run("run " + spec);
    ASSERT_EQ(r.code, 0) << r.output;
    // EvoSearch's 132 NFE per prompt buys floor(132 / 12) = 11 full rollouts.
    const proto::JobResults results = read_results(spec);
    for (const auto& p : results.prompts()) EXPECT_EQ(p.nfe(), 11 * 12) << method;
  }
}

TEST(Job, SameSpecSameAnswers) {
  const std::string spec = make_job("job-same", R"({"method": "evosearch", "evolution_steps": [0, 6], "population": [4, 3, 3]})");
  ASSERT_EQ(run("run " + spec).code, 0);
  const proto::JobResults first = read_results(spec);
  ASSERT_EQ(run("run " + spec).code, 0);
  const proto::JobResults second = read_results(spec);
  for (int i = 0; i < first.prompts_size(); ++i) {
    EXPECT_EQ(first.prompts(i).scores().at("brightness"), second.prompts(i).scores().at("brightness"));
    EXPECT_EQ(first.prompts(i).candidate(), second.prompts(i).candidate());
  }
}

TEST(Job, ChangedSpecIsRefusedUnlessRestart) {
  const std::string spec = make_job("job-changed", R"({"method": "none"})");
  ASSERT_EQ(run("run " + spec).code, 0);
  std::string text = *read_file(spec);
  text.replace(text.find("\"seed\": 5"), 9, "\"seed\": 6");
  std::ofstream(spec) << text;
  CommandResult r = run("run " + spec);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("different job spec"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--restart"), std::string::npos) << r.output;
  r = run("run " + spec + " --restart");
  EXPECT_EQ(r.code, 0) << r.output;
}

TEST(Job, BadSpecsNameTheFieldAndWriteNothing) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"method": "evosearch", "population": [4, 3]})", "population"},
      {R"({"method": "evosearch", "evolution_steps": [0, 20], "population": [4, 3, 3]})", "evolution_steps[1]"},
      {R"({"method": "evosearch", "evolution_steps": [0, 4], "population": [4, 3, 3], "elites": 3})", "elites"},
      {R"({"method": "genetic"})", "search.method"},
      {R"({"method": "particles", "potential": "huge"})", "potential"},
      {R"({"method": "none", "colour": 1})", "colour"},
      // Sizes the machine cannot hold are refused before anything is allocated, naming the field.
      {R"({"method": "evosearch", "evolution_steps": [0, 3, 6, 9], "population": [10000000, 6, 6, 6, 6]})",
       "search.population"},
      {R"({"method": "best-of-n", "nfe_budget": 9000000000000})", "search.nfe_budget"},
      {R"({"method": "particles", "particles": 2000000000})", "search.particles"},
      {R"({"method": "best-of-n", "n": 100000}, "memory_limit_mb": 1)", "memory_limit_mb allows"},
  };
  for (const auto& [search, field] : cases) {
    const std::string spec = make_job("job-bad", search);
    const CommandResult r = run("run " + spec);
    EXPECT_EQ(r.code, 1) << search;
    EXPECT_NE(r.output.find(field), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(fs::path(spec).parent_path() / "out")) << search;
  }
  const CommandResult missing = run("run /nonexistent/job.json");
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.output.find("/nonexistent/job.json"), std::string::npos);
}

TEST(Job, YamlSpecsReadLikeJson) {
  if (!yaml_supported()) EVOSEARCH_SKIP_UNLESS_CI("YAML", "this build has no YAML support (yaml-cpp not found)");
  const std::string spec = make_job("job-yaml", R"({"method": "none"})");
  const fs::path dir = fs::path(spec).parent_path();
  std::ofstream(dir / "job.yaml") << "# a comment\nbundle: bundle\nprompts: suite.txt\noutput: out\nseed: 5\n"
                                     "sampler: {steps: 12}\nbatch_size: 4\nname: '2024'\n"
                                     "search:\n  method: evosearch\n  evolution_steps: [0, 6]\n  population: [4, 3, 3]\n";
  const CommandResult r = run("run " + (dir / "job.yaml").string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_results(spec).name(), "2024");  // a quoted scalar stays a string
  EXPECT_EQ(read_results(spec).prompts(0).nfe(), 4 * 12 + 3 * 12 + 3 * 6);
  std::ofstream(dir / "bad.yaml") << "bundle: bundle\nsearch:\n  method: [evosearch\n";
  const CommandResult bad = run("run " + (dir / "bad.yaml").string());
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.output.find("bad.yaml:"), std::string::npos) << bad.output;
  std::ofstream(dir / "typo.yaml") << "bundle: bundle\nprompts: suite.txt\noutput: out2\nserach: {method: none}\n";
  const CommandResult typo = run("run " + (dir / "typo.yaml").string());
  EXPECT_EQ(typo.code, 1);
  EXPECT_NE(typo.output.find("serach"), std::string::npos) << typo.output;
}

}  // namespace
}  // namespace evosearch
