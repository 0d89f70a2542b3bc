// read_video (media/video_io.h): decodes with libavformat/libavcodec, converts with swscale.
#include <utility>

extern "C" {
#include <libavutil/pixdesc.h>
}

#include "media/ffmpeg.h"
#include "media/video_io.h"

namespace evosearch {
namespace {

// A decoded frame as 8-bit RGB, converted with the colour matrix and range its stream declares.
StatusOr<Image> to_rgb(const AVFrame& frame, ffmpeg::Scaler& scaler, const std::string& path) {
  const auto format = static_cast<AVPixelFormat>(frame.format);
  // Returns the same context while the frames keep their size and format; frees it otherwise.
  scaler.reset(sws_getCachedContext(scaler.release(), frame.width, frame.height, format, frame.width, frame.height,
                                    AV_PIX_FMT_RGB24, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr,
                                    nullptr, nullptr));
  if (!scaler) {
    const char* name = av_get_pix_fmt_name(format);
    return Internal(path + ": sws_getCachedContext failed: cannot convert " + (name ? name : "unknown") +
                    " frames to RGB");
  }
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(format);
  if (desc && !(desc->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL)) && desc->nb_components >= 3) {
    // YUV: swscale would assume BT.601 at limited range. SWS_CS_* values are AVCOL_SPC_* values.
    const int* matrix = sws_getCoefficients(frame.colorspace);
    RETURN_IF_ERROR(ffmpeg::check(sws_setColorspaceDetails(scaler.get(), matrix, frame.color_range == AVCOL_RANGE_JPEG,
                                                           matrix, 1, 0, 1 << 16, 1 << 16),
                                  "sws_setColorspaceDetails", path));
  }
  Image rgb(frame.width, frame.height, 3);
  uint8_t* planes[] = {rgb.pixels.data()};
  const int strides[] = {frame.width * 3};
  RETURN_IF_ERROR(ffmpeg::check(sws_scale(scaler.get(), frame.data, frame.linesize, 0, frame.height, planes, strides),
                                "sws_scale", path));
  return rgb;
}

// BT.601 luma in 8-bit fixed point; the weights sum to 256, so a grey pixel keeps its value.
Image to_grey(const Image& rgb) {
  Image grey(rgb.width, rgb.height, 1);
  for (size_t i = 0; i < grey.pixels.size(); ++i) {
    const uint8_t* p = &rgb.pixels[3 * i];
    grey.pixels[i] = static_cast<uint8_t>((77 * p[0] + 150 * p[1] + 29 * p[2] + 128) >> 8);
  }
  return grey;
}

}  // namespace

StatusOr<Video> read_video(const std::string& path, int channels) {
  ffmpeg::quiet_logs();
  if (channels != 1 && channels != 3) {
    return InvalidArgument(path + ": cannot read as " + std::to_string(channels) +
                           " channels; expected 1 (grey) or 3 (RGB)");
  }
  const std::string url = ffmpeg::file_url(path);
  AVFormatContext* raw = nullptr;
  // On failure avformat_open_input frees the context itself.
  RETURN_IF_ERROR(ffmpeg::check(avformat_open_input(&raw, url.c_str(), nullptr, nullptr), "avformat_open_input", path));
  ffmpeg::Input input(raw);
  RETURN_IF_ERROR(ffmpeg::check(avformat_find_stream_info(input.get(), nullptr), "avformat_find_stream_info", path));
  const AVCodec* decoder = nullptr;
  const int index = av_find_best_stream(input.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0);
  RETURN_IF_ERROR(ffmpeg::check(index, "av_find_best_stream (video)", path));
  const AVStream* stream = input->streams[index];
  ffmpeg::Codec codec(avcodec_alloc_context3(decoder));
  if (!codec) return ffmpeg::out_of_memory("avcodec_alloc_context3", path);
  RETURN_IF_ERROR(ffmpeg::check(avcodec_parameters_to_context(codec.get(), stream->codecpar),
                                "avcodec_parameters_to_context", path));
  RETURN_IF_ERROR(ffmpeg::check(avcodec_open2(codec.get(), decoder, nullptr),
                                std::string("avcodec_open2 (") + decoder->name + ")", path));

  Video video;
  video.codec = avcodec_get_name(stream->codecpar->codec_id);
  const AVRational rate = stream->avg_frame_rate.num > 0 ? stream->avg_frame_rate : stream->r_frame_rate;
  video.fps = rate.den > 0 ? av_q2d(rate) : 0;

  ffmpeg::Frame frame(av_frame_alloc());
  if (!frame) return ffmpeg::out_of_memory("av_frame_alloc", path);
  ffmpeg::Packet packet(av_packet_alloc());
  if (!packet) return ffmpeg::out_of_memory("av_packet_alloc", path);
  ffmpeg::Scaler scaler;
  auto receive = [&]() -> Status {
    for (;;) {
      const int rc = avcodec_receive_frame(codec.get(), frame.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return Status::Ok();
      RETURN_IF_ERROR(ffmpeg::check(rc, "avcodec_receive_frame", path));
      ASSIGN_OR_RETURN(Image rgb, to_rgb(*frame, scaler, path));
      video.frames.push_back(channels == 1 ? to_grey(rgb) : std::move(rgb));
      av_frame_unref(frame.get());
    }
  };
  for (;;) {
    const int rc = av_read_frame(input.get(), packet.get());
    if (rc == AVERROR_EOF) break;
    RETURN_IF_ERROR(ffmpeg::check(rc, "av_read_frame", path));
    const int sent = packet->stream_index == index ? avcodec_send_packet(codec.get(), packet.get()) : 0;
    av_packet_unref(packet.get());
    RETURN_IF_ERROR(ffmpeg::check(sent, "avcodec_send_packet", path));
    RETURN_IF_ERROR(receive());
  }
  RETURN_IF_ERROR(ffmpeg::check(avcodec_send_packet(codec.get(), nullptr), "avcodec_send_packet (flush)", path));
  RETURN_IF_ERROR(receive());
  if (video.frames.empty()) return DataLoss(path + ": the video stream has no frames");
  return video;
}

}  // namespace evosearch
