#include "media/video_io.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <utility>

#include "common/atomic_file.h"
#include "media/ffmpeg.h"
#include "media/gif_palette.h"

namespace evosearch {
namespace {

constexpr int kMinWatchableHeight = 128;
// H.264's largest level (6.2, Table A-1) allows 139264 macroblocks of 16x16 px per frame;
// libx264 refuses sides over 16384 px (measured: 16386 fails).
constexpr int64_t kH264MaxMacroblocks = 139264;
constexpr int64_t kX264MaxSide = 16384;
constexpr int64_t kGifMaxSide = 65535;  // GIF stores sizes in 16 bits
constexpr int kMp4MaxFps = 1000;  // a sanity bound, far above what screens show
// GIF delays are whole 1/100 s, and browsers play delays under 2/100 s as 1/10 s.
constexpr int kGifMaxFps = 50;

std::string shape(const Image& frame) {
  return std::to_string(frame.width) + "x" + std::to_string(frame.height) + "x" + std::to_string(frame.channels);
}

Status check_frames(const std::vector<Image>& frames, const std::string& path) {
  if (frames.empty()) return InvalidArgument(path + ": no frames to write");
  const Image& first = frames[0];
  if (first.channels != 1 && first.channels != 3) {
    return InvalidArgument(path + ": frames have " + std::to_string(first.channels) +
                           " channels; expected 1 (grey) or 3 (RGB)");
  }
  if (first.width <= 0 || first.height <= 0) return InvalidArgument(path + ": frame 0 is empty (" + shape(first) + ")");
  for (size_t i = 0; i < frames.size(); ++i) {
    const Image& frame = frames[i];
    if (frame.width != first.width || frame.height != first.height || frame.channels != first.channels) {
      return InvalidArgument(path + ": frame " + std::to_string(i) + " is " + shape(frame) + " but frame 0 is " +
                             shape(first) + "; every frame needs the size and channels of the first");
    }
    const size_t bytes = static_cast<size_t>(frame.width) * frame.height * frame.channels;
    if (frame.pixels.size() != bytes) {
      return InvalidArgument(path + ": frame " + std::to_string(i) + " holds " + std::to_string(frame.pixels.size()) +
                             " bytes; a " + shape(frame) + " frame has " + std::to_string(bytes));
    }
  }
  return Status::Ok();
}

Status check_timing(const VideoOptions& options, int max_fps, const std::string& path) {
  if (options.fps < 1 || options.fps > max_fps) {
    return InvalidArgument(path + ": fps " + std::to_string(options.fps) + " is out of range; expected 1 to " +
                           std::to_string(max_fps));
  }
  if (options.scale < 0) {
    return InvalidArgument(path + ": scale " + std::to_string(options.scale) +
                           " is negative; expected 0 (automatic) or an upscale factor of 1 or more");
  }
  return Status::Ok();
}

// Nearest-neighbour upscale of `frame` by `scale` into a width x height image of `channels`
// channels (grey is copied into R, G and B). Pixels past the upscaled frame (padding) repeat its
// last column or row.
Image upscale(const Image& frame, int scale, int width, int height, int channels) {
  Image out(width, height, channels);
  for (int y = 0; y < height; ++y) {
    const int sy = std::min(y / scale, frame.height - 1);
    for (int x = 0; x < width; ++x) {
      const uint8_t* src = frame.at(std::min(x / scale, frame.width - 1), sy);
      uint8_t* dst = out.at(x, y);
      for (int c = 0; c < channels; ++c) dst[c] = src[frame.channels == 1 ? 0 : c];
    }
  }
  return out;
}

// Copies a 1-channel image into the first plane of `frame`.
void copy_plane(const Image& image, AVFrame& frame) {
  for (int y = 0; y < image.height; ++y) {
    std::memcpy(frame.data[0] + static_cast<ptrdiff_t>(y) * frame.linesize[0], image.at(0, y),
                static_cast<size_t>(image.width));
  }
}

struct Encoding {
  const char* muxer;    // "mp4", "gif"
  const char* encoder;  // "libx264", "gif"
  AVPixelFormat pixel_format;
  int width;
  int height;
  int fps;
  std::vector<std::pair<const char*, std::string>> encoder_options;
  std::vector<std::pair<const char*, std::string>> muxer_options;
  std::function<void(AVCodecContext&)> configure;  // more encoder settings, when set
};

// Hands every packet the encoder has ready to the muxer.
Status drain(AVCodecContext& codec, AVFormatContext& muxer, const AVStream& stream, AVPacket& packet,
             const std::string& path) {
  for (;;) {
    const int rc = avcodec_receive_packet(&codec, &packet);
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return Status::Ok();
    RETURN_IF_ERROR(ffmpeg::check(rc, "avcodec_receive_packet", path));
    // Every frame lasts 1/fps; libx264 leaves the duration unset, and the muxer needs it for the last frame.
    if (packet.duration == 0) packet.duration = 1;
    av_packet_rescale_ts(&packet, codec.time_base, stream.time_base);
    packet.stream_index = stream.index;
    RETURN_IF_ERROR(ffmpeg::check(av_interleaved_write_frame(&muxer, &packet), "av_interleaved_write_frame", path));
  }
}

// Encodes `count` frames into the file `tmp`; fill(frame, i) writes frame i's pixels in the
// encoder's pixel format. `path` (where the file goes in the end) names it in errors.
Status encode(const std::string& tmp, const std::string& path, const Encoding& spec, int count,
              const std::function<Status(AVFrame&, int)>& fill) {
  const AVCodec* encoder = avcodec_find_encoder_by_name(spec.encoder);
  if (!encoder) {
    return FailedPrecondition(path + ": this FFmpeg has no " + spec.encoder +
                              " encoder (Debian's libavcodec59 has it; README.md, Dependencies)");
  }
  const std::string url = ffmpeg::file_url(tmp);
  AVFormatContext* raw = nullptr;
  RETURN_IF_ERROR(ffmpeg::check(avformat_alloc_output_context2(&raw, nullptr, spec.muxer, url.c_str()),
                                std::string("avformat_alloc_output_context2 (") + spec.muxer + ")", path));
  ffmpeg::Output muxer(raw);
  AVStream* stream = avformat_new_stream(muxer.get(), nullptr);
  if (!stream) return ffmpeg::out_of_memory("avformat_new_stream", path);
  ffmpeg::Codec codec(avcodec_alloc_context3(encoder));
  if (!codec) return ffmpeg::out_of_memory("avcodec_alloc_context3", path);
  codec->width = spec.width;
  codec->height = spec.height;
  codec->pix_fmt = spec.pixel_format;
  codec->time_base = AVRational{1, spec.fps};
  codec->framerate = AVRational{spec.fps, 1};
  if (muxer->oformat->flags & AVFMT_GLOBALHEADER) codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (spec.configure) spec.configure(*codec);
  ffmpeg::Options encoder_options;
  for (const auto& [key, value] : spec.encoder_options) {
    RETURN_IF_ERROR(ffmpeg::check(encoder_options.set(key, value), "av_dict_set", path));
  }
  RETURN_IF_ERROR(ffmpeg::check(avcodec_open2(codec.get(), encoder, encoder_options.get()),
                                std::string("avcodec_open2 (") + spec.encoder + ")", path));
  RETURN_IF_ERROR(ffmpeg::check(avcodec_parameters_from_context(stream->codecpar, codec.get()),
                                "avcodec_parameters_from_context", path));
  stream->time_base = codec->time_base;
  RETURN_IF_ERROR(ffmpeg::check(avio_open(&muxer->pb, url.c_str(), AVIO_FLAG_WRITE), "avio_open", path));
  ffmpeg::Options muxer_options;
  for (const auto& [key, value] : spec.muxer_options) {
    RETURN_IF_ERROR(ffmpeg::check(muxer_options.set(key, value), "av_dict_set", path));
  }
  RETURN_IF_ERROR(ffmpeg::check(avformat_write_header(muxer.get(), muxer_options.get()), "avformat_write_header", path));

  ffmpeg::Frame frame(av_frame_alloc());
  if (!frame) return ffmpeg::out_of_memory("av_frame_alloc", path);
  ffmpeg::Packet packet(av_packet_alloc());
  if (!packet) return ffmpeg::out_of_memory("av_packet_alloc", path);
  frame->format = spec.pixel_format;
  frame->width = spec.width;
  frame->height = spec.height;
  RETURN_IF_ERROR(ffmpeg::check(av_frame_get_buffer(frame.get(), 0), "av_frame_get_buffer", path));
  for (int i = 0; i < count; ++i) {
    // The encoder may still hold the previous frame's buffer; this gives us a free one.
    RETURN_IF_ERROR(ffmpeg::check(av_frame_make_writable(frame.get()), "av_frame_make_writable", path));
    RETURN_IF_ERROR(fill(*frame, i));
    frame->pts = i;
    RETURN_IF_ERROR(ffmpeg::check(avcodec_send_frame(codec.get(), frame.get()), "avcodec_send_frame", path));
    RETURN_IF_ERROR(drain(*codec, *muxer, *stream, *packet, path));
  }
  RETURN_IF_ERROR(ffmpeg::check(avcodec_send_frame(codec.get(), nullptr), "avcodec_send_frame (flush)", path));
  RETURN_IF_ERROR(drain(*codec, *muxer, *stream, *packet, path));
  RETURN_IF_ERROR(ffmpeg::check(av_write_trailer(muxer.get()), "av_write_trailer", path));
  // Closing writes the last buffered bytes: a full disk shows up here.
  return ffmpeg::check(avio_closep(&muxer->pb), "avio_closep", path);
}

}  // namespace

bool video_files_supported() { return true; }

int video_scale(int height, const VideoOptions& options) {
  if (options.scale > 0) return options.scale;
  return height > 0 ? std::max(1, (kMinWatchableHeight + height - 1) / height) : 1;
}

Status write_mp4(const std::string& path, const std::vector<Image>& frames, const VideoOptions& options) {
  ffmpeg::quiet_logs();
  RETURN_IF_ERROR(check_frames(frames, path));
  RETURN_IF_ERROR(check_timing(options, kMp4MaxFps, path));
  if (options.crf < 1 || options.crf > 51) {
    return InvalidArgument(path + ": crf " + std::to_string(options.crf) + " is out of range; expected 1 to 51");
  }
  const Image& first = frames[0];
  const int scale = video_scale(first.height, options);
  // 4:2:0 keeps one colour sample per 2x2 pixels: round the size up to even.
  const int64_t width = (int64_t{first.width} * scale + 1) / 2 * 2;
  const int64_t height = (int64_t{first.height} * scale + 1) / 2 * 2;
  if (width > kX264MaxSide || height > kX264MaxSide ||
      ((width + 15) / 16) * ((height + 15) / 16) > kH264MaxMacroblocks) {
    return InvalidArgument(path + ": frames of " + std::to_string(width) + "x" + std::to_string(height) + " px (" +
                           std::to_string(scale) + "x upscale) are larger than H.264 allows (x264: " +
                           std::to_string(kX264MaxSide) + " px a side; level 6.2: " +
                           std::to_string(kH264MaxMacroblocks) + " macroblocks of 16x16 px)");
  }
  const int w = static_cast<int>(width), h = static_cast<int>(height);
  // SWS_AREA: a colour sample is the mean of its 2x2 pixels, so subsampling leaves the colours
  // of frames upscaled by an even factor as they were.
  ffmpeg::Scaler scaler(sws_getContext(w, h, AV_PIX_FMT_RGB24, w, h, AV_PIX_FMT_YUV420P,
                                       SWS_AREA | SWS_ACCURATE_RND, nullptr, nullptr, nullptr));
  if (!scaler) return ffmpeg::out_of_memory("sws_getContext", path);
  // BT.709 from full-range RGB to limited-range YUV, matching the tags below.
  const int* bt709 = sws_getCoefficients(SWS_CS_ITU709);
  RETURN_IF_ERROR(ffmpeg::check(sws_setColorspaceDetails(scaler.get(), bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16),
                                "sws_setColorspaceDetails", path));
  Encoding spec{"mp4", "libx264", AV_PIX_FMT_YUV420P, w, h, options.fps,
                {{"crf", std::to_string(options.crf)}, {"profile", "high"}},
                {{"movflags", "+faststart"}},
                [](AVCodecContext& codec) {
                  codec.color_range = AVCOL_RANGE_MPEG;
                  codec.colorspace = AVCOL_SPC_BT709;
                  codec.color_primaries = AVCOL_PRI_BT709;
                  codec.color_trc = AVCOL_TRC_BT709;
                }};
  auto fill = [&](AVFrame& frame, int i) {
    const Image rgb = upscale(frames[static_cast<size_t>(i)], scale, w, h, 3);
    const uint8_t* planes[] = {rgb.pixels.data()};
    const int strides[] = {w * 3};
    return ffmpeg::check(sws_scale(scaler.get(), planes, strides, 0, h, frame.data, frame.linesize), "sws_scale",
                         path);
  };
  return write_file_atomic_with(path, [&](const std::string& tmp) {
    return encode(tmp, path, spec, static_cast<int>(frames.size()), fill);
  });
}

Status write_gif(const std::string& path, const std::vector<Image>& frames, const VideoOptions& options) {
  ffmpeg::quiet_logs();
  RETURN_IF_ERROR(check_frames(frames, path));
  RETURN_IF_ERROR(check_timing(options, kGifMaxFps, path));
  const Image& first = frames[0];
  const int scale = video_scale(first.height, options);
  const int64_t width = int64_t{first.width} * scale, height = int64_t{first.height} * scale;
  if (width > kGifMaxSide || height > kGifMaxSide) {
    return InvalidArgument(path + ": frames of " + std::to_string(width) + "x" + std::to_string(height) + " px (" +
                           std::to_string(scale) + "x upscale) are larger than GIF allows (" +
                           std::to_string(kGifMaxSide) + " px a side)");
  }
  const int w = static_cast<int>(width), h = static_cast<int>(height);
  const bool grey = first.channels == 1;
  std::vector<PalettedFrame> paletted;
  if (!grey) {
    ASSIGN_OR_RETURN(paletted, quantize_clip(frames, path));
  }
  // Grey frames go in as they are: FFmpeg's GIF encoder gives them a palette of the 256 greys.
  Encoding spec{"gif", "gif", grey ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_PAL8, w, h, options.fps, {}, {{"loop", "0"}}, {}};
  auto fill = [&](AVFrame& frame, int i) {
    const size_t n = static_cast<size_t>(i);
    copy_plane(upscale(grey ? frames[n] : paletted[n].indices, scale, w, h, 1), frame);
    if (!grey) std::memcpy(frame.data[1], paletted[n].palette.data(), sizeof(paletted[n].palette));
    return Status::Ok();
  };
  return write_file_atomic_with(path, [&](const std::string& tmp) {
    return encode(tmp, path, spec, static_cast<int>(frames.size()), fill);
  });
}

}  // namespace evosearch
