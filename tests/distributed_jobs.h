// Shared by the distributed-job tests (mpi, slurm): a small job on a tiny bundle, running a
// shell command, and comparing two runs' answers.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include <sys/wait.h>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "evosearch/job.pb.h"
#include "common/atomic_file.h"
#include "job_results_file.h"
#include "run_evosearch.h"
#include "tiny_bundle.h"

namespace evosearch::testing_support {

// A denoiser with a little real work per call (a `work` x `work` matrix product), so runs last
// long enough to be interrupted or shared.
inline TinyBundle job_bundle(bool slow, int work = 200) {
  TinyBundle b;
  if (slow) {
    b.denoiser = R"(
def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
    w = torch.ones()" + std::to_string(work) + ", " + std::to_string(work) + R"(, device=x.device) + t[0]
    work = w @ w
    return 0.5 * x + 0.01 * cond[:, 0].reshape(-1, 1, 1, 1) + 0.0 * work.mean()
)";
  }
  return b;
}

inline std::string make_job(const std::string& dir, const std::string& search, bool slow = false, int work = 200) {
  job_bundle(slow, work).write(dir + "/bundle");
  std::ofstream(dir + "/suite.txt") << "a bag\na dark coat\na tiny dress\na bright sandal\na plain top\na long skirt\n";
  std::ofstream(dir + "/job.json") << R"({"bundle": "bundle", "prompts": "suite.txt", "output": "out", "seed": 5,
    "sampler": {"steps": 24}, "batch_size": 4, "batch_size_policy": "fixed", "search": )" << search << "}";
  return dir + "/job.json";
}

inline CommandResult run_shell(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

inline std::string image_bytes(const std::string& spec, const proto::PromptOutcome& p) {
  auto bytes = read_file((std::filesystem::path(spec).parent_path() / "out" / p.image()).string());
  return bytes.ok() ? *bytes : "missing";
}

// Same best samples (rollout, image), same accounting, rewards (`score`: the guidance reward's
// name) within 1e-5.
inline void expect_same_answers(const std::string& spec, const std::string& reference_spec, const std::string& what,
                                const std::string& score = "brightness") {
  const proto::JobResults a = results_of(spec), b = results_of(reference_spec);
  ASSERT_EQ(a.prompts_size(), b.prompts_size()) << what;
  ASSERT_GT(a.prompts_size(), 0) << what;
  for (int i = 0; i < a.prompts_size(); ++i) {
    EXPECT_EQ(a.prompts(i).generation(), b.prompts(i).generation()) << what << " prompt " << i;
    EXPECT_EQ(a.prompts(i).candidate(), b.prompts(i).candidate()) << what << " prompt " << i;
    EXPECT_NEAR(a.prompts(i).scores().at(score), b.prompts(i).scores().at(score), 1e-5) << what << i;
    EXPECT_EQ(a.prompts(i).nfe(), b.prompts(i).nfe()) << what << " prompt " << i;
    EXPECT_EQ(image_bytes(spec, a.prompts(i)), image_bytes(reference_spec, b.prompts(i))) << what << " prompt " << i;
  }
  EXPECT_EQ(a.totals().nfe(), b.totals().nfe()) << what;
  EXPECT_EQ(a.totals().reward_calls(), b.totals().reward_calls()) << what;
}

// Same generation grids (names and PNG bytes) for every prompt and generation.
inline void expect_same_grids(const std::string& spec, const std::string& reference_spec, const std::string& what) {
  const proto::JobResults a = results_of(spec), b = results_of(reference_spec);
  ASSERT_EQ(a.prompts_size(), b.prompts_size()) << what;
  int grids = 0;
  for (int i = 0; i < a.prompts_size(); ++i) {
    ASSERT_EQ(a.prompts(i).generations_size(), b.prompts(i).generations_size()) << what << " prompt " << i;
    for (int g = 0; g < a.prompts(i).generations_size(); ++g) {
      const std::string& grid = a.prompts(i).generations(g).grid();
      EXPECT_EQ(grid, b.prompts(i).generations(g).grid()) << what << " prompt " << i << " generation " << g;
      if (grid.empty()) continue;
      ++grids;
      auto mine = read_file((std::filesystem::path(spec).parent_path() / "out" / grid).string());
      auto reference = read_file((std::filesystem::path(reference_spec).parent_path() / "out" / grid).string());
      ASSERT_TRUE(mine.ok() && reference.ok()) << what << " " << grid;
      EXPECT_TRUE(*mine == *reference) << what << ": " << grid << " differs";
    }
  }
  EXPECT_GT(grids, 0) << what << ": no grids to compare";
}

}  // namespace evosearch::testing_support
