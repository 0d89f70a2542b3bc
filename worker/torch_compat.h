// The one place that knows which LibTorch it is built against: Debian's 1.13 (CPU) here,
// the torch Python package's 2.x (CUDA) on GPU machines. Everything else includes this
// instead of reaching for version-specific APIs.
#pragma once

#include <string>

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
// the message, not the backtrace.
inline std::string short_torch_error(const std::exception& e, int max_lines = 3) {
  std::string text = e.what();
  std::string out;
  int lines = 0;
  size_t pos = 0;
  while (pos < text.size() && lines < max_lines) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line.rfind("Exception raised from", 0) == 0) continue;
    if (!out.empty()) out += " | ";
    out += line;
    ++lines;
  }
  return out.empty() ? std::string("unknown LibTorch error") : out;
}

}  // namespace evosearch
