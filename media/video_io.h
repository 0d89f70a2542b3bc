// Videos a person can watch: H.264 MP4 and looping animated GIF from 8-bit frames, written
// atomically, and a reader for both (tests, reports). FFmpeg encodes and decodes (libx264 for
// H.264); libimagequant picks the GIF palette of colour clips. No LibTorch here.
//
// A video's frame strip (frames side by side with a small gap) is
// make_grid(frames, frames.size(), gap) from media/image_io.h.
#pragma once

#include <string>
#include <vector>

#include "common/image.h"
#include "common/status.h"

namespace evosearch {

struct VideoOptions {
  int fps = 8;  // 1..1000 for MP4; 1..50 for GIF (see write_gif)
  // Integer nearest-neighbour upscale; 0 picks the smallest factor that makes the height at
  // least 128 px, since a 32x32 clip is too small to watch at 1x.
  int scale = 0;
  // x264's constant rate factor, 1 (best) to 51 (worst); 18 is near-lossless for small clips.
  // 0 (lossless) is refused: x264 then writes a profile browsers cannot play. MP4 only.
  int crf = 18;
};

// Whether this build writes and reads video files (FFmpeg and libimagequant were found at
// build time, EVOSEARCH_VIDEO_FILES). Without them the functions below return an error.
bool video_files_supported();

// The upscale factor frames of `height` px get with `options`.
int video_scale(int height, const VideoOptions& options);

// Writes `frames` (at least one; all of one size, 1 or 3 channels) as an H.264 MP4 (yuv420p,
// BT.709, limited range: what every browser plays) with the index ahead of the data
// (faststart), so playback starts before the download ends. Grey frames become grey video.
// 4:2:0 needs an even width and height: an odd one (possible only at scale 1) gets its last
// column or row repeated once. Atomic (write_file_atomic_with): a reader sees the whole file
// or none, and a failure leaves nothing behind. Creates missing folders.
Status write_mp4(const std::string& path, const std::vector<Image>& frames, const VideoOptions& options = {});

// Writes `frames` as an animated GIF that loops forever, atomically as above. Grey frames are
// stored exactly (a grey palette); RGB frames share one palette of up to 256 colours chosen
// over the whole clip (so colours do not flicker between frames) and are dithered. GIF stores
// delays in 1/100 s, so 8 fps plays as alternating 0.13 s and 0.12 s frames; browsers slow
// delays under 0.02 s down, hence at most 50 fps.
Status write_gif(const std::string& path, const std::vector<Image>& frames, const VideoOptions& options = {});

struct Video {
  std::vector<Image> frames;
  double fps = 0;     // the stream's average frame rate
  std::string codec;  // FFmpeg's name for the stream's codec: "h264", "gif"
};

// Decodes every frame of the first video stream of `path` (MP4, GIF, anything FFmpeg reads) to
// 8-bit RGB (channels 3) or grey (channels 1: BT.601 luma of the RGB, exact for grey frames).
StatusOr<Video> read_video(const std::string& path, int channels = 3);

}  // namespace evosearch
