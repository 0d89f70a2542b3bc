#include "media/official_results.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <vector>

#include "common/atomic_file.h"

namespace evosearch {
namespace {

// Python's repr(float): the shortest digits that round-trip, in fixed notation for decimal
// exponents in [-4, 16), with ".0" on whole numbers; scientific ("1e-05", "1.5e+16") otherwise.
std::string python_float(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const std::string sci(buf, ec == std::errc() ? end : buf);
  // "-d.ddde+XX": split into sign, digits and exponent.
  const size_t e = sci.find('e');
  std::string mantissa = sci.substr(0, e);
  const int exponent = std::atoi(sci.c_str() + e + 1);
  std::string sign;
  if (mantissa[0] == '-') {
    sign = "-";
    mantissa.erase(0, 1);
  }
  std::string digits = mantissa.substr(0, 1) + (mantissa.size() > 2 ? mantissa.substr(2) : "");
  if (exponent < -4 || exponent >= 16) {
    return sign + digits.substr(0, 1) + (digits.size() > 1 ? "." + digits.substr(1) : "") + "e" +
           (exponent < 0 ? "-" : "+") + (std::abs(exponent) < 10 ? "0" : "") + std::to_string(std::abs(exponent));
  }
  if (exponent < 0) return sign + "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
  const size_t point = static_cast<size_t>(exponent) + 1;
  if (digits.size() <= point) return sign + digits + std::string(point - digits.size(), '0') + ".0";
  return sign + digits.substr(0, point) + "." + digits.substr(point);
}

// A JSON string as Python's json.dump(ensure_ascii=True) writes it.
std::string python_string(const std::string& text) {
  std::string out = "\"";
  char buf[16];  // "\uXXXX" and its NUL; room for more digits than a UTF-16 unit has
  const auto unit = [&](unsigned u) {
    std::snprintf(buf, sizeof buf, "\\u%04x", u & 0xFFFFu);
    out += buf;
  };
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    int extra = c < 0x80 ? 0 : c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : -1;
    unsigned cp = extra == 0 ? c : extra == 1 ? (c & 0x1Fu) : extra == 2 ? (c & 0x0Fu) : (c & 0x07u);
    bool valid = extra >= 0 && i + extra < text.size();
    for (int k = 1; valid && k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      valid = (next & 0xC0) == 0x80;
      cp = (cp << 6) | (next & 0x3Fu);
    }
    if (!valid) cp = 0xFFFD, extra = 0;  // a stray byte: protobuf strings are UTF-8, so only from bad input
    i += 1 + extra;
    if (cp == '"') out += "\\\"";
    else if (cp == '\\') out += "\\\\";
    else if (cp == '\n') out += "\\n";
    else if (cp == '\r') out += "\\r";
    else if (cp == '\t') out += "\\t";
    else if (cp == '\b') out += "\\b";
    else if (cp == '\f') out += "\\f";
    else if (cp < 0x20 || (cp >= 0x7F && cp < 0x10000)) unit(cp);
    else if (cp >= 0x10000) unit(0xD800 + ((cp - 0x10000) >> 10)), unit(0xDC00 + ((cp - 0x10000) & 0x3FF));
    else out += static_cast<char>(cp);
  }
  return out + "\"";
}

}  // namespace

StatusOr<std::string> official_results_json(const proto::JobResults& results) {
  std::vector<const proto::PromptOutcome*> prompts;
  for (const auto& p : results.prompts()) prompts.push_back(&p);
  std::stable_sort(prompts.begin(), prompts.end(), [](auto* a, auto* b) { return a->index() < b->index(); });
  std::map<std::string, std::vector<double>> values;
  for (const auto* p : prompts) {
    for (const auto& [name, value] : p->scores()) values[name];
  }
  for (const auto* p : prompts) {
    for (auto& [name, list] : values) {
      const auto it = p->scores().find(name);
      if (it == p->scores().end()) {
        return InvalidArgument("prompt " + std::to_string(p->index()) + " has no score for metric '" + name +
                               "'; the official results layout needs one per prompt and metric");
      }
      list.push_back(it->second);
    }
  }
  std::string json = "{";
  for (const auto& [name, list] : values) {
    double sum = 0;
    for (double v : list) sum += v;
    const double mean = sum / list.size();
    double sq = 0;
    for (double v : list) sq += (v - mean) * (v - mean);
    const double std = list.size() > 1 ? std::sqrt(sq / (list.size() - 1)) : std::nan("");
    json += (json.size() > 1 ? ", " : "") + python_string(name) + ": {\"result\": [";
    for (size_t i = 0; i < list.size(); ++i) json += (i ? ", " : "") + python_float(list[i]);
    json += "], \"mean\": " + python_float(mean) + ", \"std\": " + python_float(std) +
            ", \"max\": " + python_float(*std::max_element(list.begin(), list.end())) +
            ", \"min\": " + python_float(*std::min_element(list.begin(), list.end())) + "}";
  }
  return json + "}";
}

Status write_official_results(const proto::JobResults& results, const std::string& path) {
  ASSIGN_OR_RETURN(const std::string json, official_results_json(results));
  return write_file_atomic(path, json);
}

}  // namespace evosearch
