// Shared by the hostile-input and fault-injection tests: running the evosearch program under a
// memory cap with a deadline, snapshots of folders (what changed), and the tab-separated case
// lists of tests/hostile/.
#pragma once

#include <cctype>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "child_process.h"
#include "common/checksum.h"

namespace evosearch::testing_support {

struct Ran {
  int code;            // exit code, 128 + signal when killed, -1 when it outlived its deadline
  std::string output;  // stdout and stderr
};

// Address space of each program run: a runaway allocation fails inside the program (and must be
// refused with a message) instead of taking a machine that other work shares.
constexpr rlim_t kAddressSpaceCap = rlim_t{8} << 30;

// Runs the program with `args` (no shell), output into `log`, under kAddressSpaceCap, for at most
// `seconds`; extra environment entries as "NAME=value".
inline Ran run_program(const std::vector<std::string>& args, const std::string& log, double seconds = 60,
                       const std::vector<std::string>& env = {}) {
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    const rlimit cap{kAddressSpaceCap, kAddressSpaceCap};
    setrlimit(RLIMIT_AS, &cap);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    for (const std::string& entry : env) putenv(const_cast<char*>(entry.c_str()));
    std::vector<char*> argv{const_cast<char*>(EVOSEARCH_BINARY)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(EVOSEARCH_BINARY, argv.data());
    _exit(127);
  }
  const int code = wait_exit(pid, seconds);
  return {code, read_text(log)};
}

// A crash is a signal (SIGABRT 134, SIGSEGV 139, ...) or a run past its deadline; an exit code
// below 128 is the program's own decision.
inline void expect_no_crash(const Ran& r, const std::string& what) {
  EXPECT_GE(r.code, 0) << what << ": did not end within its deadline\n" << r.output;
  EXPECT_LT(r.code, 128) << what << ": killed by signal " << r.code - 128 << "\n" << r.output;
}

// Every file under `dir` (relative path -> SHA-256 of its bytes), except under the relative
// folders in `skip`.
inline std::map<std::string, std::string> snapshot(const std::string& dir, const std::vector<std::string>& skip = {}) {
  namespace fs = std::filesystem;
  std::map<std::string, std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string relative = it->path().lexically_relative(dir).generic_string();
    bool skipped = false;
    for (const std::string& s : skip) skipped = skipped || relative == s || relative.rfind(s + "/", 0) == 0;
    if (skipped) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_symlink() || !it->is_regular_file()) {
      files[relative] = it->is_directory() ? "folder" : "other";
      continue;
    }
    auto digest = sha256_file_hex(it->path().string());
    files[relative] = digest.ok() ? *digest : "unreadable";
  }
  return files;
}

// The differences between two snapshots, one per line ("" when none).
inline std::string changes(const std::map<std::string, std::string>& before, const std::map<std::string, std::string>& after) {
  std::string out;
  for (const auto& [path, digest] : before) {
    const auto it = after.find(path);
    if (it == after.end()) out += "deleted " + path + "\n";
    else if (it->second != digest) out += "changed " + path + "\n";
  }
  for (const auto& [path, digest] : after) {
    if (!before.count(path)) out += "created " + path + "\n";
  }
  return out;
}

// One line of a tests/hostile/*/cases.txt: FILE <tab> EXIT <tab> TEXT [<tab> known: WHY].
struct Case {
  std::string file;
  int exit_code = 0;
  std::string text;   // the message must hold it (the field, file or flag it names)
  std::string known;  // "known: ..." for a case the code does not pass yet
};

inline std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.file; }

inline std::vector<Case> read_cases(const std::string& list) {
  std::vector<Case> cases;
  std::ifstream in(list);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    std::stringstream split(line);
    for (std::string f; std::getline(split, f, '\t');) fields.push_back(f);
    if (fields.size() < 3) throw std::runtime_error(list + ": expected FILE<tab>EXIT<tab>TEXT[<tab>known: WHY] in: " + line);
    cases.push_back({fields[0], std::stoi(fields[1]), fields[2], fields.size() > 3 ? fields[3] : ""});
  }
  return cases;
}

// A name gtest accepts for a case file ("huge-steps.json" -> "huge_steps_json").
inline std::string case_name(const std::string& file) {
  std::string name;
  for (char c : file) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

// Known failures are skipped (each with its one-line reason) unless EVOSEARCH_HOSTILE_KNOWN=1,
// which runs them to see whether they have been fixed.
inline bool skip_known() {
  const char* all = std::getenv("EVOSEARCH_HOSTILE_KNOWN");
  return !(all && std::string(all) == "1");
}

}  // namespace evosearch::testing_support
