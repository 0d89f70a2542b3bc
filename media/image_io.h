// Images a person can look at: grids of samples, written as PNG atomically.
#pragma once

#include <string>
#include <vector>

#include "common/image.h"
#include "common/status.h"

namespace evosearch {

// Tiles `images` (all the same size) into rows of `columns`, with `padding` pixels of
// background between them. Grey images are promoted to RGB when mixed with RGB ones.
Image make_grid(const std::vector<Image>& images, int columns, int padding = 2, int scale = 1);

// Writes `image` as PNG atomically (write_file_atomic), so a reader never sees half a file.
// Creates missing parent folders.
Status write_png(const std::string& path, const Image& image);

// Reads a PNG (for tests and reports).
StatusOr<Image> read_png(const std::string& path);

}  // namespace evosearch
