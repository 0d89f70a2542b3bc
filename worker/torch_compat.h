// The one place that knows which LibTorch it is built against: Debian's 1.13 (CPU) here,
// the torch Python package's 2.x (CUDA) on GPU machines. Everything else includes this
// instead of reaching for version-specific APIs.
#pragma once

#include <string>
#include <vector>

#include <torch/script.h>
#include <torch/version.h>

namespace evosearch {

#define EVOSEARCH_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||            \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

inline std::string torch_version_string() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

// LibTorch exceptions carry a C++ backtrace after the first lines in some builds; users need
// the message, not the backtrace. A TorchScript interpreter error starts with the script's
// traceback and ends with the actual error ("RuntimeError: ..."): that line comes first, then the
// innermost script location.
inline std::string short_torch_error(const std::exception& e, int max_lines = 3) {
  const std::string text = e.what();
  std::vector<std::string> lines;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    const size_t first = line.find_first_not_of(' ');
    if (first == std::string::npos || line.rfind("Exception raised from", 0) == 0) continue;
    lines.push_back(line.substr(first));
  }
  std::string error, location;
  for (const std::string& line : lines) {
    const size_t colon = line.find("Error: ");
    if (colon != std::string::npos && line.find(' ') > colon) error = line;  // "RuntimeError: ...", "ValueError: ..."
    if (line.rfind("File \"", 0) == 0) location = line;
  }
  if (!error.empty()) return location.empty() ? error : error + " (at " + location + ")";
  std::string out;
  for (size_t i = 0; i < lines.size() && static_cast<int>(i) < max_lines; ++i) out += (i ? " | " : "") + lines[i];
  return out.empty() ? std::string("unknown LibTorch error") : out;
}

}  // namespace evosearch
