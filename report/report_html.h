// The small pieces the report page is written from: escaped text, links that cannot leave
// their folder, and numbers formatted for people.
#pragma once

#include <cstdint>
#include <string>

namespace evosearch::report {

// Escapes & < > " ' so the text is safe in element content and in quoted attribute values.
std::string escape_html(const std::string& text);

// True when `path` names something inside the folder it is relative to: not empty, not
// absolute, no ".." component, no NUL and no backslash (a Windows separator in a file:// URL).
bool stays_inside(const std::string& path);

// Percent-encodes every byte of a relative path outside [A-Za-z0-9-._~/], so a file name
// with spaces, '#', '?' or ':' (a "javascript:" prefix included) stays one relative URL.
std::string url_path(const std::string& path);

// Reward values: 4 decimals, or 3 significant digits in scientific notation when very large
// or small; "NaN", "inf" and "-inf" for the non-finite.
std::string format_value(double v);

// Counts with thin spaces between thousands: 12 345 678.
std::string format_count(int64_t n);

// Durations: "42.0 s", "3 min 05 s", "2 h 07 min".
std::string format_duration(double seconds);

// Byte counts: "512 B", "3.2 MiB".
std::string format_bytes(int64_t bytes);

// The page's inline stylesheet and its media self-check script (report_assets.cc).
extern const char kPageStyle[];
extern const char kPageScript[];

}  // namespace evosearch::report
