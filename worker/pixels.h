// Decoded pixel tensors to 8-bit images for people to look at.
#pragma once

#include <vector>

#include <ATen/ATen.h>

#include "common/image.h"

namespace evosearch {

// pixels: [B,C,H,W] or [B,C,F,H,W] in [0,1]. A video becomes one image with its frames
// side by side. C = 1 gives grey images, C >= 3 RGB (extra channels dropped).
std::vector<Image> to_images(const at::Tensor& pixels);

// Every sample's frames (as to_frames), moved to host memory at once: pixels [B,C,H,W] or [B,C,F,H,W].
std::vector<std::vector<Image>> to_sample_frames(const at::Tensor& pixels);

// One sample's frames: pixels [C,H,W] (one frame) or [C,F,H,W] (F frames), channels as above.
std::vector<Image> to_frames(const at::Tensor& sample);

}  // namespace evosearch
