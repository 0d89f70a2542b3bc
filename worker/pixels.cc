#include "worker/pixels.h"

namespace evosearch {
namespace {

// [B,C,F,H,W] in [0,1] -> bytes [B,F,H,W,C'] with C' = 1 or 3.
at::Tensor to_bytes(const at::Tensor& pixels) {
  at::Tensor p = pixels.detach().to(at::kCPU, at::kFloat);
  if (p.dim() == 4) p = p.unsqueeze(2);  // [B,C,1,H,W]
  const int64_t channels = p.size(1) >= 3 ? 3 : 1;
  return p.narrow(1, 0, channels).permute({0, 2, 3, 4, 1}).mul(255.0).round().clamp(0, 255).to(at::kByte).contiguous();
}

Image image_of(const at::Tensor& hwc) {
  Image im(static_cast<int>(hwc.size(1)), static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(2)));
  const uint8_t* src = hwc.data_ptr<uint8_t>();
  std::copy(src, src + im.pixels.size(), im.pixels.begin());
  return im;
}

}  // namespace

std::vector<Image> to_images(const at::Tensor& pixels) {
  const at::Tensor bytes = to_bytes(pixels);  // [B,F,H,W,C]
  const int64_t batch = bytes.size(0), frames = bytes.size(1), height = bytes.size(2), width = bytes.size(3);
  // [B,H,F*W,C]: frames side by side.
  const at::Tensor strips = bytes.permute({0, 2, 1, 3, 4}).reshape({batch, height, frames * width, bytes.size(4)}).contiguous();
  std::vector<Image> images;
  for (int64_t b = 0; b < batch; ++b) images.push_back(image_of(strips[b]));
  return images;
}

std::vector<Image> to_frames(const at::Tensor& sample) { return to_sample_frames(sample.unsqueeze(0))[0]; }

std::vector<std::vector<Image>> to_sample_frames(const at::Tensor& pixels) {
  const at::Tensor bytes = to_bytes(pixels);  // [B,F,H,W,C]
  std::vector<std::vector<Image>> samples;
  for (int64_t b = 0; b < bytes.size(0); ++b) {
    std::vector<Image>& frames = samples.emplace_back();
    for (int64_t f = 0; f < bytes.size(1); ++f) frames.push_back(image_of(bytes[b][f].contiguous()));
  }
  return samples;
}

}  // namespace evosearch
