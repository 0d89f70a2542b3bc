#include "worker/pixels.h"

namespace evosearch {

std::vector<Image> to_images(const at::Tensor& pixels) {
  at::Tensor p = pixels.detach().to(at::kCPU, at::kFloat);
  if (p.dim() == 4) p = p.unsqueeze(2);  // [B,C,1,H,W]
  const int64_t batch = p.size(0), channels = p.size(1) >= 3 ? 3 : 1;
  const int64_t frames = p.size(2), height = p.size(3), width = p.size(4);
  // [B,H,F*W,C] bytes: frames side by side.
  const at::Tensor bytes = p.narrow(1, 0, channels)
                               .permute({0, 3, 2, 4, 1})
                               .reshape({batch, height, frames * width, channels})
                               .mul(255.0)
                               .round()
                               .clamp(0, 255)
                               .to(at::kByte)
                               .contiguous();
  std::vector<Image> images;
  for (int64_t b = 0; b < batch; ++b) {
    Image im(static_cast<int>(frames * width), static_cast<int>(height), static_cast<int>(channels));
    const uint8_t* src = bytes[b].data_ptr<uint8_t>();
    std::copy(src, src + im.pixels.size(), im.pixels.begin());
    images.push_back(std::move(im));
  }
  return images;
}

}  // namespace evosearch
