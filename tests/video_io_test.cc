#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/atomic_file.h"
#include "media/image_io.h"
#include "media/video_io.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

// Mean absolute error per frame (levels of 0..255) of decoded against written frames, measured
// at CRF 18 on these clips with the tolerance set at about twice the worst frame:
// - MP4, upscaled 4x or 12x: grey worst 0.27, RGB worst 1.5 (even factors keep 4:2:0 chroma
//   exact; the rest is x264 and the rounding of RGB -> limited-range YUV -> RGB).
// - MP4 at 1x with sharp colour edges: grey 1.5, RGB 4.6 (one colour sample per 2x2 pixels).
// - GIF RGB: 2.4 (one palette of 256 colours, dithered); GIF grey is exact.
constexpr double kMp4GreyUpscaled = 0.6;
constexpr double kMp4RgbUpscaled = 3.0;
constexpr double kMp4GreyOneX = 3.0;
constexpr double kMp4RgbOneX = 9.0;
constexpr double kGifRgb = 5.0;

// A square moving left to right over a gradient: edges and motion for the codec to keep.
std::vector<Image> moving_square(int width, int height, int channels, int count) {
  std::vector<Image> frames;
  const int side = std::max(2, height / 3);
  for (int f = 0; f < count; ++f) {
    Image frame(width, height, channels);
    const int sx = f * (width - side) / std::max(1, count - 1), sy = height / 3;
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        const bool square = x >= sx && x < sx + side && y >= sy && y < sy + side;
        uint8_t* p = frame.at(x, y);
        if (channels == 1) {
          p[0] = square ? 240 : static_cast<uint8_t>(20 + 200 * (x + y) / (width + height));
        } else {
          p[0] = square ? 230 : static_cast<uint8_t>(255 * x / width);
          p[1] = square ? 40 : static_cast<uint8_t>(255 * y / height);
          p[2] = square ? 60 : 128;
        }
      }
    }
    frames.push_back(std::move(frame));
  }
  return frames;
}

// The frame as it should come back: upscaled by pixel repetition, its last column and row
// repeated into any padding.
Image expected_frame(const Image& frame, int scale, int width, int height) {
  Image out(width, height, frame.channels);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const uint8_t* src = frame.at(std::min(x / scale, frame.width - 1), std::min(y / scale, frame.height - 1));
      std::copy(src, src + frame.channels, out.at(x, y));
    }
  }
  return out;
}

double mean_abs_error(const Image& a, const Image& b) {
  double sum = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) sum += std::abs(int{a.pixels[i]} - int{b.pixels[i]});
  return sum / static_cast<double>(a.pixels.size());
}

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Reads `path` back and checks it against `frames` upscaled by `scale` to width x height.
void expect_round_trip(const std::string& path, const std::vector<Image>& frames, int scale, int width, int height,
                       double tolerance) {
  auto video = read_video(path, frames[0].channels);
  ASSERT_TRUE(video.ok()) << video.status().to_string();
  ASSERT_EQ(video->frames.size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    const Image& got = video->frames[i];
    ASSERT_EQ(got.width, width);
    ASSERT_EQ(got.height, height);
    ASSERT_EQ(got.channels, frames[i].channels);
    EXPECT_LE(mean_abs_error(got, expected_frame(frames[i], scale, width, height)), tolerance) << "frame " << i;
  }
}

TEST(VideoIo, Mp4OfASmallRgbClipIsH264UpscaledTo128) {
  const std::string path = testing_support::fresh_dir("video-rgb") + "/clip.mp4";
  const auto frames = moving_square(32, 32, 3, 8);
  EXPECT_EQ(video_scale(32, VideoOptions{}), 4);
  ASSERT_TRUE(write_mp4(path, frames).ok());
  auto video = read_video(path);
  ASSERT_TRUE(video.ok()) << video.status().to_string();
  EXPECT_EQ(video->codec, "h264");
  EXPECT_DOUBLE_EQ(video->fps, 8.0);
  expect_round_trip(path, frames, 4, 128, 128, kMp4RgbUpscaled);
  // The wrong frame is far off: the tolerance does tell frames apart.
  EXPECT_GT(mean_abs_error(video->frames[0], expected_frame(frames[7], 4, 128, 128)), 5 * kMp4RgbUpscaled);
}

TEST(VideoIo, Mp4OfGreyFramesKeepsTheirFps) {
  const std::string path = testing_support::fresh_dir("video-grey") + "/clip.mp4";
  const auto frames = moving_square(17, 11, 1, 8);
  VideoOptions options;
  options.fps = 16;
  EXPECT_EQ(video_scale(11, options), 12);  // 132 px, the first multiple of 11 over 128
  ASSERT_TRUE(write_mp4(path, frames, options).ok());
  auto video = read_video(path, 1);
  ASSERT_TRUE(video.ok()) << video.status().to_string();
  EXPECT_DOUBLE_EQ(video->fps, 16.0);
  expect_round_trip(path, frames, 12, 204, 132, kMp4GreyUpscaled);
  // Read as RGB, grey video stays grey.
  auto rgb = read_video(path, 3);
  ASSERT_TRUE(rgb.ok());
  const uint8_t* p = rgb->frames[3].at(100, 60);
  EXPECT_LE(std::max({p[0], p[1], p[2]}) - std::min({p[0], p[1], p[2]}), 2);
}

TEST(VideoIo, Mp4PadsOddSizesToEven) {
  const std::string dir = testing_support::fresh_dir("video-odd");
  VideoOptions options;
  options.scale = 1;
  for (int channels : {1, 3}) {
    const auto frames = moving_square(21, 13, channels, 6);
    const std::string path = dir + "/odd-" + std::to_string(channels) + ".mp4";
    ASSERT_TRUE(write_mp4(path, frames, options).ok());
    expect_round_trip(path, frames, 1, 22, 14, channels == 1 ? kMp4GreyOneX : kMp4RgbOneX);
  }
}

TEST(VideoIo, Mp4PutsItsIndexFirst) {
  const std::string path = testing_support::fresh_dir("video-faststart") + "/clip.mp4";
  ASSERT_TRUE(write_mp4(path, moving_square(16, 16, 3, 4)).ok());
  const std::string bytes = read_file(path).value();
  const size_t moov = bytes.find("moov"), mdat = bytes.find("mdat");
  ASSERT_NE(moov, std::string::npos);
  ASSERT_NE(mdat, std::string::npos);
  EXPECT_LT(moov, mdat);  // a browser can start playing before the download ends
}

TEST(VideoIo, Mp4AcceptsX264sWidestFrame) {
  const std::string path = testing_support::fresh_dir("video-wide") + "/wide.mp4";
  VideoOptions options;
  options.scale = 1;
  ASSERT_TRUE(write_mp4(path, {Image(16384, 16, 1, 100)}, options).ok());
  auto video = read_video(path, 1);
  ASSERT_TRUE(video.ok()) << video.status().to_string();
  EXPECT_EQ(video->frames[0].width, 16384);
}

TEST(VideoIo, GifOfGreyFramesIsExactAndLoops) {
  const std::string path = testing_support::fresh_dir("gif-grey") + "/clip.gif";
  const auto frames = moving_square(32, 32, 1, 8);
  ASSERT_TRUE(write_gif(path, frames).ok());
  auto video = read_video(path, 1);
  ASSERT_TRUE(video.ok()) << video.status().to_string();
  EXPECT_EQ(video->codec, "gif");
  // Delays are whole 1/100 s: 13, 12, 13, ... and the last repeats 13, so 101/100 s for 8 frames.
  EXPECT_NEAR(video->fps, 8.0, 0.1);
  ASSERT_EQ(video->frames.size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(video->frames[i].pixels, expected_frame(frames[i], 4, 128, 128).pixels) << "frame " << i;
  }
  // The Netscape block that makes browsers loop: sub-block 1, loop count 0 (forever).
  const std::string bytes = read_file(path).value();
  EXPECT_NE(bytes.find(std::string("NETSCAPE2.0\x03\x01\x00\x00", 15)), std::string::npos);
}

TEST(VideoIo, GifOfRgbFramesIsWithinPaletteError) {
  const std::string dir = testing_support::fresh_dir("gif-rgb");
  const auto frames = moving_square(32, 32, 3, 8);
  ASSERT_TRUE(write_gif(dir + "/clip.gif", frames).ok());
  expect_round_trip(dir + "/clip.gif", frames, 4, 128, 128, kGifRgb);
  // GIF needs no even sizes: an odd clip keeps its size.
  VideoOptions options;
  options.scale = 1;
  const auto odd = moving_square(21, 13, 3, 5);
  ASSERT_TRUE(write_gif(dir + "/odd.gif", odd, options).ok());
  expect_round_trip(dir + "/odd.gif", odd, 1, 21, 13, kGifRgb);
}

TEST(VideoIo, EncodersPrintNothing) {
  const std::string dir = testing_support::fresh_dir("video-quiet");
  testing::internal::CaptureStderr();
  testing::internal::CaptureStdout();
  const Status mp4 = write_mp4(dir + "/a.mp4", moving_square(16, 16, 3, 3));
  const Status gif = write_gif(dir + "/a.gif", moving_square(16, 16, 3, 3));
  const bool read = read_video(dir + "/a.mp4").ok();
  const std::string out = testing::internal::GetCapturedStdout();
  const std::string err = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(mp4.ok() && gif.ok() && read);
  EXPECT_EQ(out + err, "");
}

using Writer = std::function<Status(const std::string&, const std::vector<Image>&, const VideoOptions&)>;

TEST(VideoIo, BadInputIsRefusedAndWritesNothing) {
  const std::string dir = testing_support::fresh_dir("video-bad");
  const Writer mp4 = [](auto& p, auto& f, auto& o) { return write_mp4(p, f, o); };
  const Writer gif = [](auto& p, auto& f, auto& o) { return write_gif(p, f, o); };
  const std::vector<Image> good = moving_square(8, 8, 3, 2);
  Image short_pixels(8, 8, 3);
  short_pixels.pixels.pop_back();
  auto with = [](auto change) {
    VideoOptions options;
    change(options);
    return options;
  };
  struct Case {
    const char* name;
    std::vector<Image> frames;
    VideoOptions options;
    std::vector<Writer> writers;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"no frames", {}, {}, {mp4, gif}, "no frames to write"},
      {"two channels", {Image(8, 8, 2)}, {}, {mp4, gif}, "frames have 2 channels; expected 1 (grey) or 3 (RGB)"},
      {"four channels", {Image(8, 8, 4)}, {}, {mp4, gif}, "frames have 4 channels"},
      {"empty frame", {Image(0, 8, 3)}, {}, {mp4, gif}, "frame 0 is empty (0x8x3)"},
      {"sizes differ", {good[0], Image(8, 9, 3)}, {}, {mp4, gif}, "frame 1 is 8x9x3 but frame 0 is 8x8x3"},
      {"channels differ", {good[0], Image(8, 8, 1)}, {}, {mp4, gif}, "frame 1 is 8x8x1 but frame 0 is 8x8x3"},
      {"pixels missing", {good[0], short_pixels}, {}, {mp4, gif}, "frame 1 holds 191 bytes; a 8x8x3 frame has 192"},
      {"fps 0", good, with([](VideoOptions& o) { o.fps = 0; }), {mp4, gif}, "fps 0 is out of range"},
      {"gif fps 60", good, with([](VideoOptions& o) { o.fps = 60; }), {gif}, "fps 60 is out of range; expected 1 to 50"},
      {"negative scale", good, with([](VideoOptions& o) { o.scale = -1; }), {mp4, gif}, "scale -1 is negative"},
      {"crf 0", good, with([](VideoOptions& o) { o.crf = 0; }), {mp4}, "crf 0 is out of range; expected 1 to 51"},
      {"crf 52", good, with([](VideoOptions& o) { o.crf = 52; }), {mp4}, "crf 52 is out of range"},
      {"too wide for x264", {Image(16386, 2, 1)}, with([](VideoOptions& o) { o.scale = 1; }), {mp4},
       "frames of 16386x2 px (1x upscale) are larger than H.264 allows"},
      {"too many macroblocks", {Image(2, 1, 3)}, with([](VideoOptions& o) { o.scale = 8192; }), {mp4},
       "frames of 16384x8192 px (8192x upscale) are larger than H.264 allows"},
      {"too large for GIF", {Image(1, 1, 1)}, with([](VideoOptions& o) { o.scale = 70000; }), {gif},
       "frames of 70000x70000 px (70000x upscale) are larger than GIF allows"},
  };
  for (const Case& c : cases) {
    for (const Writer& write : c.writers) {
      const std::string path = dir + "/never/clip.out";
      const Status status = write(path, c.frames, c.options);
      EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << c.name << ": " << status.to_string();
      EXPECT_NE(status.message().find(path + ": "), std::string::npos) << c.name << ": " << status.message();
      EXPECT_NE(status.message().find(c.expected), std::string::npos) << c.name << ": " << status.message();
      EXPECT_FALSE(fs::exists(dir + "/never")) << c.name;
    }
  }
}

TEST(VideoIo, FailedWriteLeavesNoFileOrTemporary) {
  const std::string dir = testing_support::fresh_dir("video-fail");
  const auto frames = moving_square(16, 16, 3, 3);
  // The encoding succeeds, the rename over a folder with files in it fails.
  fs::create_directories(dir + "/taken.mp4/inside");
  fs::create_directories(dir + "/taken.gif/inside");
  const Status mp4 = write_mp4(dir + "/taken.mp4", frames);
  const Status gif = write_gif(dir + "/taken.gif", frames);
  EXPECT_FALSE(mp4.ok());
  EXPECT_FALSE(gif.ok());
  EXPECT_NE(mp4.message().find(dir + "/taken.mp4"), std::string::npos) << mp4.message();
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{"taken.gif", "taken.mp4"}));
  // A folder that cannot be made: its parent is a file.
  std::ofstream(dir + "/blocker") << "a file, not a folder";
  const Status blocked = write_mp4(dir + "/blocker/sub/clip.mp4", frames);
  EXPECT_FALSE(blocked.ok());
  EXPECT_NE(blocked.message().find(dir + "/blocker/sub/clip.mp4"), std::string::npos) << blocked.message();
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{"blocker", "taken.gif", "taken.mp4"}));
}

TEST(VideoIo, CreatesFoldersAndReplacesOldVideos) {
  const std::string dir = testing_support::fresh_dir("video-folders");
  const std::string folder = dir + "/runs/0001";
  ASSERT_TRUE(write_mp4(folder + "/clip.mp4", moving_square(16, 16, 1, 2)).ok());
  ASSERT_TRUE(write_gif(folder + "/clip.gif", moving_square(16, 16, 1, 2)).ok());
  ASSERT_TRUE(write_mp4(folder + "/clip.mp4", moving_square(16, 16, 1, 5)).ok());
  EXPECT_EQ(names_in(folder), (std::vector<std::string>{"clip.gif", "clip.mp4"}));
  EXPECT_EQ(read_video(folder + "/clip.mp4")->frames.size(), 5u);
}

TEST(VideoIo, ReadErrorsNameThePath) {
  const std::string dir = testing_support::fresh_dir("video-read");
  auto missing = read_video(dir + "/none.mp4");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().to_string();
  EXPECT_NE(missing.status().message().find(dir + "/none.mp4: avformat_open_input failed"), std::string::npos)
      << missing.status().message();
  ASSERT_TRUE(write_file_atomic(dir + "/text.mp4", "not a video at all").ok());
  auto garbage = read_video(dir + "/text.mp4");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.status().message().find(dir + "/text.mp4: "), std::string::npos) << garbage.status().message();
  ASSERT_TRUE(write_gif(dir + "/ok.gif", moving_square(8, 8, 1, 2)).ok());
  EXPECT_EQ(read_video(dir + "/ok.gif", 2).status().code(), StatusCode::kInvalidArgument);
}

TEST(VideoIo, FrameStripIsMakeGrid) {
  // A video's frames side by side with a 2 px gap: one row of make_grid (media/image_io.h).
  const auto frames = moving_square(10, 6, 3, 4);
  const Image strip = make_grid(frames, static_cast<int>(frames.size()), 2);
  EXPECT_EQ(strip.width, 2 + 4 * (10 + 2));
  EXPECT_EQ(strip.height, 2 + 6 + 2);
  for (int f = 0; f < 4; ++f) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(strip.at(2 + f * 12 + 9, 2 + 5)[c], frames[f].at(9, 5)[c]) << f;
    EXPECT_EQ(strip.at(2 + f * 12 + 10, 4)[0], 255) << f;  // the gap after frame f
  }
}

}  // namespace
}  // namespace evosearch
