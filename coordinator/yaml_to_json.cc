#include "coordinator/yaml_to_json.h"

#ifdef EVOSEARCH_WITH_YAML
#include <cstdio>
#include <regex>

#include <yaml-cpp/yaml.h>
#endif

namespace evosearch {

#ifdef EVOSEARCH_WITH_YAML
namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string scalar(const YAML::Node& node) {
  const std::string& v = node.Scalar();
  if (node.Tag() == "!") return quoted(v);  // quoted in the YAML: always a string
  static const std::regex number(R"(^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$)");
  if (v == "true" || v == "false") return v;
  if (v == "null" || v == "~" || v.empty()) return "null";
  if (std::regex_match(v, number)) return v;
  return quoted(v);
}

// A spec is a few kB and a few levels deep; aliases can repeat a node exponentially often
// ("billion laughs") or put a node inside itself (&a [*a]), so the JSON a spec expands to is
// bounded in size and depth.
constexpr size_t kMaxJsonBytes = size_t{1} << 20;
constexpr int kMaxDepth = 64;

struct TooLarge {};

void append_json(const YAML::Node& node, std::string& out, int depth = 0) {
  if (out.size() > kMaxJsonBytes || depth > kMaxDepth) throw TooLarge{};
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      out += "{";
      bool first = true;
      for (const auto& kv : node) {
        out += (first ? "" : ",") + quoted(kv.first.as<std::string>()) + ":";
        append_json(kv.second, out, depth + 1);
        first = false;
      }
      out += "}";
      return;
    }
    case YAML::NodeType::Sequence:
      out += "[";
      for (size_t i = 0; i < node.size(); ++i) {
        if (i) out += ",";
        append_json(node[i], out, depth + 1);
      }
      out += "]";
      return;
    case YAML::NodeType::Scalar:
      out += scalar(node);
      return;
    default:
      out += "null";
  }
}

}  // namespace

bool yaml_supported() { return true; }

StatusOr<std::string> yaml_to_json(const std::string& yaml, const std::string& origin) {
  try {
    std::string json;
    append_json(YAML::Load(yaml), json);
    return json;
  } catch (const TooLarge&) {
    return InvalidArgument(origin + ": expands to more than " + std::to_string(kMaxJsonBytes >> 20) + " MiB or " +
                           std::to_string(kMaxDepth) + " levels (YAML aliases repeating a node, or one inside itself?)");
  } catch (const YAML::Exception& e) {
    return InvalidArgument(origin + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}
#else
bool yaml_supported() { return false; }

StatusOr<std::string> yaml_to_json(const std::string&, const std::string& origin) {
  return FailedPrecondition(origin + ": this build has no YAML support (yaml-cpp was not found); use a .json spec");
}
#endif

}  // namespace evosearch
