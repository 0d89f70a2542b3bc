// Palettes for a colour clip, chosen by libimagequant, for GIF. Internal to jobs/.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/image.h"
#include "common/status.h"

namespace evosearch {

struct PalettedFrame {
  Image indices;                        // 1 channel: an index into `palette` per pixel
  std::array<uint32_t, 256> palette{};  // 0xAARRGGBB (FFmpeg's PAL8 layout); unused entries opaque black
};

// Quantises RGB `frames` (validated: one size, 3 channels), dithered. The palette is chosen once
// from the colours of every frame, so colours stay steady; libimagequant then refines it a
// little for each frame as it remaps that frame, hence a palette per frame. `path` names the
// output file in errors.
StatusOr<std::vector<PalettedFrame>> quantize_clip(const std::vector<Image>& frames, const std::string& path);

}  // namespace evosearch
