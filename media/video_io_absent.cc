// media/video_io.h in a build without FFmpeg and libimagequant (EVOSEARCH_VIDEO_FILES=OFF): video
// samples are written as their frame strip PNG only (media/answer_files.cc asks
// video_files_supported()), and a direct call for an MP4 or GIF says why it cannot be served.
#include "media/video_io.h"

namespace evosearch {
namespace {

Status absent(const std::string& path) {
  return FailedPrecondition(path + ": this evosearch was built without video files (EVOSEARCH_VIDEO_FILES=OFF: "
                            "FFmpeg's libavformat, libavcodec, libswscale or libimagequant was not found)");
}

}  // namespace

bool video_files_supported() { return false; }

Status write_mp4(const std::string& path, const std::vector<Image>&, const VideoOptions&) { return absent(path); }

Status write_gif(const std::string& path, const std::vector<Image>&, const VideoOptions&) { return absent(path); }

StatusOr<Video> read_video(const std::string& path, int) { return absent(path); }

}  // namespace evosearch
