// YAML job specs: converted to JSON text, then read by the same protobuf JSON parser as JSON
// specs (so unknown fields and bad values are reported the same way).
#pragma once

#include <string>

#include "common/status.h"

namespace evosearch {

// False when this build has no YAML support (yaml-cpp was not found).
bool yaml_supported();

// Plain scalars become numbers, true/false or null where they read as such; quoted scalars
// stay strings.
StatusOr<std::string> yaml_to_json(const std::string& yaml, const std::string& origin);

}  // namespace evosearch
