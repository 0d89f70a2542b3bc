#include "jobs/output_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

namespace evosearch {

StatusOr<std::unique_ptr<OutputLock>> OutputLock::acquire(const std::string& output_dir) {
  const std::filesystem::path state = std::filesystem::path(output_dir) / "state";
  std::error_code ec;
  std::filesystem::create_directories(state, ec);
  if (ec) return Internal("cannot create " + state.string() + ": " + ec.message());
  const std::string path = (state / "run.lock").string();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Internal("cannot open " + path + ": " + std::strerror(errno));
  std::unique_ptr<OutputLock> lock(new OutputLock(fd));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK) return Internal("cannot lock " + path + ": " + std::strerror(err));
    char holder[512] = {0};
    const ssize_t n = ::pread(fd, holder, sizeof holder - 1, 0);
    std::string who = n > 0 ? std::string(holder, static_cast<size_t>(n)) : std::string("another process");
    while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
    return FailedPrecondition(output_dir + " is in use by another run (" + who +
                              "); one output folder has one writer: wait for that run to end or stop it, or use "
                              "another output folder");
  }
  char host[256] = "unknown";
  ::gethostname(host, sizeof host - 1);
  char since[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  const std::string who = "pid " + std::to_string(::getpid()) + " on " + host + " since " + since + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, who.data(), who.size(), 0) != static_cast<ssize_t>(who.size())) {
    return Internal("cannot write " + path + ": " + std::strerror(errno));
  }
  return lock;
}

}  // namespace evosearch
