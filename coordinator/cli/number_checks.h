// Validators for the command line's floating-point options. CLI::Range and CLI::PositiveNumber let
// NaN through (every comparison with NaN is false), and a NaN or infinite timeout, guidance or
// interval would then reach the job as if it were a number: these also require a finite value.
#pragma once

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <string>

namespace evosearch {

// A finite number in [min, max]; `shown` is how the range reads in --help and in the error.
inline CLI::Validator finite_number(double min, double max, const std::string& shown) {
  return CLI::Validator(
      [min, max, shown](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value) || value < min || value > max) {
          return "Value " + text + " is not a finite number " + shown;
        }
        return {};
      },
      "FINITE " + shown);
}

inline CLI::Validator finite_range(double min, double max) {
  std::ostringstream shown;
  shown << "in [" << min << ", " << max << "]";
  return finite_number(min, max, shown.str());
}

inline CLI::Validator finite_positive() {
  return finite_number(std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::max(), "> 0");
}

}  // namespace evosearch
