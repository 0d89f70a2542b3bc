#include "media/output_names.h"

#include <cstdio>

namespace evosearch {
namespace {

std::string slugify(const std::string& text) {
  std::string slug;
  bool pending_dash = false;
  for (const char raw : text) {
    char c = raw;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      if (pending_dash && !slug.empty()) slug += '-';
      pending_dash = false;
      slug += c;
    } else {
      pending_dash = true;
    }
  }
  return slug;
}

}  // namespace

std::string safe_file_stem(const std::string& prompt, size_t index, size_t max_length) {
  char digits[32];
  std::snprintf(digits, sizeof(digits), "%04zu", index);
  const std::string prefix = digits;
  std::string slug = slugify(prompt);
  if (slug.empty()) slug = "prompt";
  if (prefix.size() + 1 >= max_length) return prefix;
  const size_t room = max_length - prefix.size() - 1;
  if (slug.size() > room) {
    const bool mid_word = slug[room] != '-';
    slug.resize(room);
    // Prefer ending on a whole word when that keeps at least half of the room.
    const size_t dash = slug.rfind('-');
    if (mid_word && dash != std::string::npos && dash >= room / 2) slug.resize(dash);
    while (!slug.empty() && slug.back() == '-') slug.pop_back();
  }
  return slug.empty() ? prefix : prefix + "-" + slug;
}

}  // namespace evosearch
