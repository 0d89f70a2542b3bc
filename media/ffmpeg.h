// FFmpeg for the video writer and reader (media/video_io.h): owning handles, return codes as
// Status, and logging kept quiet. Internal to jobs/.
#pragma once

#include <memory>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
}

#include "common/status.h"

namespace evosearch::ffmpeg {

struct InputDeleter {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
// Closes the output file (when the muxer opened one) and frees the context.
struct OutputDeleter {
  void operator()(AVFormatContext* c) const;
};
struct CodecDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct ScalerDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};

using Input = std::unique_ptr<AVFormatContext, InputDeleter>;
using Output = std::unique_ptr<AVFormatContext, OutputDeleter>;
using Codec = std::unique_ptr<AVCodecContext, CodecDeleter>;
using Frame = std::unique_ptr<AVFrame, FrameDeleter>;
using Packet = std::unique_ptr<AVPacket, PacketDeleter>;
using Scaler = std::unique_ptr<SwsContext, ScalerDeleter>;

// An AVDictionary of options, freed on scope exit.
class Options {
 public:
  Options() = default;
  Options(const Options&) = delete;
  Options& operator=(const Options&) = delete;
  ~Options() { av_dict_free(&dict_); }
  // FFmpeg's return code, for check().
  int set(const char* key, const std::string& value) { return av_dict_set(&dict_, key, value.c_str(), 0); }
  AVDictionary** get() { return &dict_; }

 private:
  AVDictionary* dict_ = nullptr;
};

// OK when rc >= 0; otherwise a Status naming `path`, the call, av_strerror's reason and the last
// error FFmpeg logged on this thread (which often says more, e.g. which parameter x264 refused).
Status check(int rc, const std::string& call, const std::string& path);

// Internal("<path>: <call> failed: out of memory") for an allocation that returned null.
Status out_of_memory(const std::string& call, const std::string& path);

// Silences FFmpeg's own logging (encoder banners, statistics) for the whole process and keeps
// the last error line of each thread for check(); also forgets that line. Call before using FFmpeg.
void quiet_logs();

// The URL FFmpeg should open for a local path: "file:" keeps a ':' in a name from being read as
// a protocol.
std::string file_url(const std::string& path);

}  // namespace evosearch::ffmpeg
