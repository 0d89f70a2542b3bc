// Logs of text lines for the file job store: appended with one write() per line and without
// fsync, so a crash can lose the last lines or leave an unfinished one, which readers skip.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "common/status.h"

namespace evosearch {

// Appends `line` and a newline with one write() (O_APPEND): concurrent appenders never
// interleave. Creates missing folders.
Status append_line(const std::filesystem::path& file, const std::string& line);

// The complete lines of a file; none when it does not exist.
StatusOr<std::vector<std::string>> read_lines(const std::filesystem::path& file);

// A bounded log: segment files "NNNNNNNN.jsonl" of at most `segment_lines` lines in `folder`, of
// which the newest `segments_kept` stay, so the newest (segments_kept - 1) * segment_lines lines
// are always there. Appends must be serialised by the caller (the store's lock).
class SegmentedLog {
 public:
  SegmentedLog(std::filesystem::path folder, size_t segment_lines, size_t segments_kept)
      : folder_(std::move(folder)), segment_lines_(segment_lines), segments_kept_(segments_kept) {}

  Status append(const std::string& line);

  struct Line {
    std::string text;
    std::string where;  // "<segment file> line N", for messages
  };
  // Up to `max` of the newest lines, oldest first.
  StatusOr<std::vector<Line>> newest(size_t max) const;

 private:
  StatusOr<std::vector<std::filesystem::path>> segments() const;  // oldest first

  std::filesystem::path folder_;
  size_t segment_lines_;
  size_t segments_kept_;
};

}  // namespace evosearch
