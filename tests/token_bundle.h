// Tiny bundles with version 2 conditions (manifest `conditions`): token embeddings [3, 4], a
// mask [3] and a pooled vector [2] per prompt, as SD, FLUX and Wan take them, and the same model
// written against one flat vector [17] (version 1), for comparing the two.
#pragma once

#include "tiny_bundle.h"

namespace evosearch::testing_support {

// Tokens: one row per word-ish chunk of the prompt (its length decides how many of the 3 are
// real), the mask marks the real ones, pooled holds the length and a constant.
inline TinyBundle token_bundle() {
  TinyBundle b;
  b.encoder = R"(
def forward(self, prompts: List[str]) -> Dict[str, Tensor]:
    n = len(prompts)
    tokens = torch.zeros(n, 3, 4)
    mask = torch.zeros(n, 3)
    pooled = torch.zeros(n, 2)
    for i in range(n):
        real = min(3, (len(prompts[i]) + 4) // 5)
        for j in range(real):
            tokens[i, j, j] = float(len(prompts[i])) / 10.0
            tokens[i, j, 3] = float(j + 1)
            mask[i, j] = 1.0
        pooled[i, 0] = float(len(prompts[i])) / 20.0
        pooled[i, 1] = 0.25
    return {"tokens": tokens, "mask": mask, "pooled": pooled}
)";
  b.denoiser = R"(
def forward(self, x: Tensor, t: Tensor, tokens: Tensor, mask: Tensor, pooled: Tensor) -> Tensor:
    attended = (tokens * mask.unsqueeze(-1)).sum(1) / (mask.sum(1, keepdim=True) + 1.0)
    shift = attended[:, 0] + 0.5 * attended[:, 3] + pooled[:, 0]
    return 0.5 * x + 0.01 * shift.reshape(-1, 1, 1, 1) + 0.0001 * t.reshape(-1, 1, 1, 1)
)";
  b.reward = R"(
def forward(self, pixels: Tensor, tokens: Tensor, mask: Tensor, pooled: Tensor) -> Tensor:
    return pixels.flatten(1).mean(1) + pooled[:, 1] + 0.1 * mask.sum(1)

def features(self, pixels: Tensor) -> Tensor:
    return pixels.flatten(1)
)";
  b.manifest = replaced(b.manifest, R"("condition_dim": 4,)",
                        R"("conditions": [{"name": "tokens", "shape": [3, 4]}, {"name": "mask", "shape": [3]},
                                          {"name": "pooled", "shape": [2]}],)");
  return b;
}

// token_bundle()'s model on one flat vector [17] = tokens (12) | mask (3) | pooled (2).
inline TinyBundle flat_token_bundle() {
  TinyBundle b = token_bundle();
  b.encoder = replaced(b.encoder, "-> Dict[str, Tensor]:", "-> Tensor:");
  b.encoder = replaced(b.encoder, R"(return {"tokens": tokens, "mask": mask, "pooled": pooled})",
                       "return torch.cat([tokens.reshape(n, 12), mask, pooled], 1)");
  const char* unflatten = R"(
    tokens = cond[:, 0:12].reshape(-1, 3, 4)
    mask = cond[:, 12:15]
    pooled = cond[:, 15:17]
)";
  b.denoiser = replaced(b.denoiser, "tokens: Tensor, mask: Tensor, pooled: Tensor) -> Tensor:",
                        std::string("cond: Tensor) -> Tensor:") + unflatten);
  b.reward = replaced(b.reward, "tokens: Tensor, mask: Tensor, pooled: Tensor) -> Tensor:",
                      std::string("cond: Tensor) -> Tensor:") + unflatten);
  b.manifest = replaced(b.manifest, R"("conditions": [{"name": "tokens", "shape": [3, 4]}, {"name": "mask", "shape": [3]},
                                          {"name": "pooled", "shape": [2]}],)",
                        R"("condition_dim": 17,)");
  return b;
}

}  // namespace evosearch::testing_support
