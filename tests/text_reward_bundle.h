// A tiny bundle whose guidance reward reads the prompt text (RewardSpec.input PROMPT_TEXT):
// 10 for a prompt that says "bright", plus the mean pixel. The tiny encoder's condition depends
// only on the prompt's length, so a reward given the condition could not tell "a bright bag"
// from "a dimmed bag".
#pragma once

#include "tiny_bundle.h"

namespace evosearch::testing_support {

inline TinyBundle text_reward_bundle() {
  TinyBundle b;
  b.reward = R"(
def forward(self, pixels: Tensor, prompts: List[str]) -> Tensor:
    bonus = torch.zeros(len(prompts))
    for i in range(len(prompts)):
        if prompts[i].find("bright") >= 0:
            bonus[i] = 10.0
    return pixels.flatten(1).mean(1) + bonus
)";
  b.manifest = replaced(b.manifest, R"("guidance": true)", R"("guidance": true, "input": "PROMPT_TEXT")");
  return b;
}

}  // namespace evosearch::testing_support
