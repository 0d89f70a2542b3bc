#include "jobs/line_log.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/unique_fd.h"

namespace evosearch {

namespace fs = std::filesystem;

Status append_line(const fs::path& file, const std::string& line) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  const std::string bytes = line + "\n";
  if (!fd.valid() || ::write(fd.get(), bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()) || fd.close() != 0) {
    return Internal("cannot append to " + file.string() + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

StatusOr<std::vector<std::string>> read_lines(const fs::path& file) {
  auto text = read_file(file.string());
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return std::vector<std::string>{};
    return text.status();
  }
  std::vector<std::string> lines;
  for (size_t start = 0, end; (end = text->find('\n', start)) != std::string::npos; start = end + 1) {
    lines.push_back(text->substr(start, end - start));
  }
  return lines;
}

StatusOr<std::vector<fs::path>> SegmentedLog::segments() const {
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder_, ec)) {
    // Only the log's own segments (zero-padded numbers): a stray file there is not ours to read.
    const std::string stem = entry.path().stem().string();
    const bool numbered = !stem.empty() && stem.size() <= 16 && stem.find_first_not_of("0123456789") == std::string::npos;
    if (entry.path().extension() == ".jsonl" && numbered) found.push_back(entry.path());
  }
  if (ec && ec != std::errc::no_such_file_or_directory) return Internal("cannot list " + folder_.string() + ": " + ec.message());
  std::sort(found.begin(), found.end());  // the names are zero-padded numbers
  return found;
}

Status SegmentedLog::append(const std::string& line) {
  ASSIGN_OR_RETURN(const std::vector<fs::path> existing, segments());
  unsigned long long number = 0;
  if (!existing.empty()) {
    number = std::stoull(existing.back().stem().string());
    ASSIGN_OR_RETURN(const std::vector<std::string> lines, read_lines(existing.back()));
    if (lines.size() >= segment_lines_) ++number;
  }
  char name[32];
  std::snprintf(name, sizeof name, "%08llu.jsonl", number);
  RETURN_IF_ERROR(append_line(folder_ / name, line));
  for (const fs::path& old : existing) {
    if (std::stoull(old.stem().string()) + segments_kept_ > number) break;
    std::error_code ec;
    fs::remove(old, ec);
    if (ec) return Internal("cannot remove " + old.string() + ": " + ec.message());
  }
  return Status::Ok();
}

StatusOr<std::vector<SegmentedLog::Line>> SegmentedLog::newest(size_t max) const {
  ASSIGN_OR_RETURN(const std::vector<fs::path> all, segments());
  std::vector<Line> newest_first;
  for (auto segment = all.rbegin(); segment != all.rend() && newest_first.size() < max; ++segment) {
    ASSIGN_OR_RETURN(std::vector<std::string> lines, read_lines(*segment));
    for (size_t i = lines.size(); i-- > 0 && newest_first.size() < max;) {
      newest_first.push_back({std::move(lines[i]), segment->string() + " line " + std::to_string(i + 1)});
    }
  }
  return std::vector<Line>(std::make_move_iterator(newest_first.rbegin()), std::make_move_iterator(newest_first.rend()));
}

}  // namespace evosearch
