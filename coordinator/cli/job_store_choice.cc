#include "coordinator/cli/job_store_choice.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>

#include <sys/stat.h>

#include "jobs/redis_url.h"

namespace evosearch {

namespace {

std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

StatusOr<std::string> read_job_store_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return NotFound("--job-store-file " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return InvalidArgument("--job-store-file " + path + " is not a regular file");
  // It holds a password: refuse it while others can read it, as ssh refuses a private key.
  if ((st.st_mode & 077) != 0) {
    return FailedPrecondition("--job-store-file " + path + " has mode " + octal_mode(st.st_mode) +
                              ": group or others can read or change it; run `chmod 600 " + path + "`");
  }
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return InvalidArgument("--job-store-file " + path + " is empty or unreadable");
  const size_t begin = line.find_first_not_of(" \t\r");
  const size_t end = line.find_last_not_of(" \t\r");
  if (begin == std::string::npos) return InvalidArgument("--job-store-file " + path + ": its first line is empty");
  return line.substr(begin, end - begin + 1);
}

}  // namespace

StatusOr<std::string> choose_job_store(const std::string& flag, const std::string& file) {
  if (!flag.empty()) return flag;
  if (!file.empty()) return read_job_store_file(file);
  if (const char* env = std::getenv("EVOSEARCH_JOB_STORE"); env && *env) return std::string(env);
  return std::string();
}

bool hide_passwords_in_arguments(int argc, char** argv) {
  bool found = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const std::string redacted = redact_job_store_url(arg);
    if (redacted == arg) continue;
    // '*' over the password's own bytes: an argument cannot grow in place.
    const size_t colon = arg.find(':', arg.find("://") + 3);
    const size_t at = arg.rfind('@');
    std::memset(argv[i] + colon + 1, '*', at - colon - 1);
    found = true;
  }
  if (found) {
    // On stderr, as fail() writes before logging is set up: stdout may be `status --json`'s.
    std::cerr << "warning: a job store password was on the command line, where every user of this node could "
                 "read it (/proc/PID/cmdline); give the URL in EVOSEARCH_JOB_STORE or a file of mode 0600 "
                 "(--job-store-file), or the password alone in REDISCLI_AUTH\n";
  }
  return found;
}

}  // namespace evosearch
