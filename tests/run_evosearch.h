// Runs the evosearch binary as a user would, capturing its exit code and output.
#pragma once

#include <array>
#include <cstdio>
#include <string>

#include <sys/wait.h>

namespace evosearch::testing_support {

struct CommandResult {
  int code;
  std::string output;  // stdout and stderr
};

// `env` is put before the command as the shell reads it: "NAME=value " (empty: none).
inline CommandResult run_evosearch_with(const std::string& env, const std::string& args) {
  FILE* pipe = popen((env + std::string(EVOSEARCH_BINARY) + " " + args + " 2>&1").c_str(), "r");
  std::string output;
  std::array<char, 4096> buffer;
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

inline CommandResult run_evosearch(const std::string& args) { return run_evosearch_with("", args); }

}  // namespace evosearch::testing_support
