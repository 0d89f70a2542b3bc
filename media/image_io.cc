#include "media/image_io.h"

#include <algorithm>

#include "common/atomic_file.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <stb_image.h>
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace evosearch {

Image make_grid(const std::vector<Image>& images, int columns, int padding, int scale) {
  if (images.empty()) return Image();
  const int w = images[0].width, h = images[0].height;
  int channels = 1;
  for (const Image& im : images) channels = std::max(channels, im.channels);
  columns = std::max(1, std::min(columns, static_cast<int>(images.size())));
  const int rows = (static_cast<int>(images.size()) + columns - 1) / columns;
  Image grid(padding + columns * (w * scale + padding), padding + rows * (h * scale + padding), channels, 255);
  for (size_t n = 0; n < images.size(); ++n) {
    const Image& im = images[n];
    const int x0 = padding + static_cast<int>(n % columns) * (w * scale + padding);
    const int y0 = padding + static_cast<int>(n / columns) * (h * scale + padding);
    for (int y = 0; y < h * scale; ++y) {
      for (int x = 0; x < w * scale; ++x) {
        const uint8_t* src = im.at(x / scale, y / scale);
        uint8_t* dst = grid.at(x0 + x, y0 + y);
        for (int c = 0; c < channels; ++c) dst[c] = src[im.channels == 1 ? 0 : c];
      }
    }
  }
  return grid;
}

Status write_png(const std::string& path, const Image& image) {
  std::string bytes;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  if (!stbi_write_png_to_func(append, &bytes, image.width, image.height, image.channels, image.pixels.data(),
                              image.width * image.channels)) {
    return Internal("cannot encode " + path + " as PNG");
  }
  return write_file_atomic(path, bytes);
}

StatusOr<Image> read_png(const std::string& path) {
  int w = 0, h = 0, c = 0;
  unsigned char* data = stbi_load(path.c_str(), &w, &h, &c, 0);
  if (!data) return DataLoss(path + ": not a readable PNG");
  Image image(w, h, c);
  std::copy(data, data + static_cast<size_t>(w) * h * c, image.pixels.begin());
  stbi_image_free(data);
  return image;
}

}  // namespace evosearch
