#include "media/ffmpeg.h"

#include <cstdarg>
#include <mutex>

extern "C" {
#include <libavutil/error.h>
#include <libavutil/log.h>
}

namespace evosearch::ffmpeg {
namespace {

thread_local std::string last_error;

// Keeps the last error-level line; FFmpeg prints nothing.
void keep_errors(void* object, int level, const char* format, va_list args) {
  if (level > AV_LOG_ERROR) return;
  char line[1024];
  int print_prefix = 1;
  av_log_format_line2(object, level, format, args, line, sizeof(line), &print_prefix);
  last_error = line;
  while (!last_error.empty() && (last_error.back() == '\n' || last_error.back() == ' ')) last_error.pop_back();
}

}  // namespace

void OutputDeleter::operator()(AVFormatContext* c) const {
  if (c->oformat && !(c->oformat->flags & AVFMT_NOFILE)) avio_closep(&c->pb);
  avformat_free_context(c);
}

Status check(int rc, const std::string& call, const std::string& path) {
  if (rc >= 0) return Status::Ok();
  char reason[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(rc, reason, sizeof(reason));
  std::string message = path + ": " + call + " failed: " + reason;
  if (!last_error.empty()) message += " (FFmpeg: " + last_error + ")";
  last_error.clear();
  if (rc == AVERROR(ENOENT)) return NotFound(std::move(message));
  if (rc == AVERROR_INVALIDDATA) return DataLoss(std::move(message));
  if (rc == AVERROR_ENCODER_NOT_FOUND || rc == AVERROR_DECODER_NOT_FOUND || rc == AVERROR_MUXER_NOT_FOUND) {
    return FailedPrecondition(std::move(message));
  }
  return Internal(std::move(message));
}

Status out_of_memory(const std::string& call, const std::string& path) {
  return Internal(path + ": " + call + " failed: out of memory");
}

void quiet_logs() {
  static std::once_flag once;
  std::call_once(once, [] {
    av_log_set_level(AV_LOG_ERROR);
    av_log_set_callback(keep_errors);
  });
  last_error.clear();
}

std::string file_url(const std::string& path) { return "file:" + path; }

}  // namespace evosearch::ffmpeg
