// Writes small but complete model bundles for tests, with TorchScript modules defined from
// source in C++ (no Python needed), and lets a test swap any module or manifest field.
#pragma once

#include <map>
#include <string>

namespace evosearch::testing_support {

struct TinyBundle {
  // TorchScript source of each module's methods; empty means "do not write the file".
  std::string encoder = R"(
def forward(self, prompts: List[str]) -> Tensor:
    out = torch.zeros(len(prompts), 4)
    for i in range(len(prompts)):
        if len(prompts[i]) == 0:
            out[i, 3] = 1.0
        else:
            out[i, 0] = float(len(prompts[i])) / 10.0
    return out
)";
  std::string denoiser = R"(
def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
    return 0.5 * x + 0.01 * cond[:, 0].reshape(-1, 1, 1, 1)
)";
  std::string decoder = R"(
def forward(self, z: Tensor) -> Tensor:
    return torch.sigmoid(z)
)";
  std::string reward = R"(
def forward(self, pixels: Tensor, cond: Tensor) -> Tensor:
    return pixels.flatten(1).mean(1) + cond[:, 0]

def features(self, pixels: Tensor) -> Tensor:
    return pixels.flatten(1)
)";
  std::string manifest = R"({
  "name": "tiny", "format": "TORCHSCRIPT", "model_kind": "FLOW", "prediction": "VELOCITY",
  "flow": {"time_scale": 1000, "shift": 1.0},
  "latent_shape": [1, 4, 4], "condition_dim": 4,
  "encoder": "encoder.pt", "denoiser": "denoiser.pt", "decoder": "decoder.pt",
  "rewards": [{"name": "brightness", "file": "rewards/brightness.pt", "guidance": true}],
  "defaults": {"sampler": "DPMPP_SDE", "steps": 6, "guidance_scale": 2.0},
  "null_prompt": ""
})";

  // Writes the bundle into `dir` (created fresh) and returns it.
  std::string write(const std::string& dir) const;
};

// A fresh empty folder under the test temp dir.
std::string fresh_dir(const std::string& name);

// Replaces the first occurrence of `from` in `text` with `to`.
std::string replaced(std::string text, const std::string& from, const std::string& to);

}  // namespace evosearch::testing_support
