// Shared by the poison-prompt tests (one process, and under mpirun): the tiny bundle made to fail
// for the prompt "poison" (its encoder raises, or its reward is NaN), and a job folder around it.
#pragma once

#include <fstream>
#include <string>

#include "tiny_bundle.h"

namespace evosearch::testing_support {

inline constexpr char kPoisonSearch[] = R"({"method": "evosearch", "evolution_steps": [0, 4, 8], "population": [4, 3, 3, 3]})";

// The tiny bundle encoder's loop over the prompts, where the bundles below add a line.
inline constexpr char kEachPrompt[] = "    for i in range(len(prompts)):";

// The tiny bundle whose encoder raises for the prompt "poison".
inline TinyBundle raising_encoder() {
  TinyBundle b;
  b.encoder = replaced(b.encoder, kEachPrompt, std::string(kEachPrompt) + R"(
        assert prompts[i] != "poison", "the encoder cannot read this prompt")");
  return b;
}

// The tiny bundle whose reward is NaN for the prompt "poison" (its condition's third entry), so
// the NaN comes mid-search, in rollout batches that hold the other prompts' candidates too.
inline TinyBundle nan_reward() {
  TinyBundle b;
  b.encoder = replaced(b.encoder, kEachPrompt, std::string(kEachPrompt) + R"(
        if prompts[i] == "poison":
            out[i, 2] = 1.0)");
  b.reward = R"(
def forward(self, pixels: Tensor, cond: Tensor) -> Tensor:
    score = pixels.flatten(1).mean(1) + cond[:, 0]
    return torch.where(cond[:, 2] > 0.5, score * float("nan"), score)

def features(self, pixels: Tensor) -> Tensor:
    return pixels.flatten(1)
)";
  return b;
}

// A job folder `dir` with `bundle`, the suite `prompts` and a spec (`extra` appended to it).
inline std::string make_poison_job(const std::string& dir, const TinyBundle& bundle, const std::string& prompts,
                                   const std::string& extra = "") {
  bundle.write(dir + "/bundle");
  std::ofstream(dir + "/suite.txt") << prompts;
  std::ofstream(dir + "/job.json") << R"({"bundle": "bundle", "prompts": "suite.txt", "output": "out", "seed": 5,
    "sampler": {"steps": 12}, "batch_size": 8, "batch_size_policy": "fixed", "search": )" << kPoisonSearch << extra << "}";
  return dir + "/job.json";
}

}  // namespace evosearch::testing_support
