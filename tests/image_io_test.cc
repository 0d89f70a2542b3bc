#include <filesystem>

#include <gtest/gtest.h>

#include "media/image_io.h"
#include "tiny_bundle.h"
#include "worker/pixels.h"

namespace evosearch {
namespace {

TEST(ImageIo, GridPlacesImagesInRows) {
  std::vector<Image> images;
  for (int i = 0; i < 5; ++i) images.emplace_back(3, 2, 1, static_cast<uint8_t>(10 * (i + 1)));
  const Image grid = make_grid(images, 2, 1, 2);
  EXPECT_EQ(grid.width, 1 + 2 * (6 + 1));
  EXPECT_EQ(grid.height, 1 + 3 * (4 + 1));
  EXPECT_EQ(grid.at(0, 0)[0], 255);       // padding
  EXPECT_EQ(grid.at(1, 1)[0], 10);        // first image, top-left
  EXPECT_EQ(grid.at(8 + 5, 1 + 3)[0], 20);  // second image, bottom-right pixel (scaled)
  EXPECT_EQ(grid.at(1, 11)[0], 50);       // fifth image starts the third row
}

TEST(ImageIo, PngRoundTripAndAtomicWrite) {
  Image image(4, 3, 3);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>(i * 7);
  const std::string path = testing_support::fresh_dir("png") + "/sub/dir/x.png";
  ASSERT_TRUE(write_png(path, image).ok());
  auto back = read_png(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->pixels, image.pixels);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(std::filesystem::path(path).parent_path()),
                          std::filesystem::directory_iterator()),
            1);  // no temporary file left behind
  EXPECT_FALSE(read_png(path + ".missing").ok());
}

TEST(Pixels, VideoFramesSideBySide) {
  // [B=1, C=1, F=2, H=2, W=3]: frame 0 dark, frame 1 bright.
  at::Tensor video = at::zeros({1, 1, 2, 2, 3});
  video.select(2, 1).fill_(1.0);
  const std::vector<Image> images = to_images(video);
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].width, 6);
  EXPECT_EQ(images[0].height, 2);
  EXPECT_EQ(images[0].at(2, 1)[0], 0);
  EXPECT_EQ(images[0].at(3, 0)[0], 255);
  const std::vector<Image> rgb = to_images(at::full({2, 3, 2, 2}, 0.5));
  EXPECT_EQ(rgb[1].channels, 3);
  EXPECT_EQ(rgb[1].at(1, 1)[2], 128);
}

}  // namespace
}  // namespace evosearch
