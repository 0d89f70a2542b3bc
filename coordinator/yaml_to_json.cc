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

std::string to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      std::string out = "{";
      bool first = true;
      for (const auto& kv : node) {
        out += (first ? "" : ",") + quoted(kv.first.as<std::string>()) + ":" + to_json(kv.second);
        first = false;
      }
      return out + "}";
    }
    case YAML::NodeType::Sequence: {
      std::string out = "[";
      for (size_t i = 0; i < node.size(); ++i) out += (i ? "," : "") + to_json(node[i]);
      return out + "]";
    }
    case YAML::NodeType::Scalar:
      return scalar(node);
    default:
      return "null";
  }
}

}  // namespace

bool yaml_supported() { return true; }

StatusOr<std::string> yaml_to_json(const std::string& yaml, const std::string& origin) {
  try {
    return to_json(YAML::Load(yaml));
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
