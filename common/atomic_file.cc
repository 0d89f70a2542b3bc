#include "common/atomic_file.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/unique_fd.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

Status errno_status(const std::string& what, const std::string& path, int err) {
  std::string message = what + " " + path + ": " + std::strerror(err);
  if (err == ENOENT) return NotFound(std::move(message));
  return Internal(std::move(message));
}

Status write_all(int fd, const std::string& bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status("cannot write", path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status fsync_folder(const fs::path& folder) {
  const std::string name = folder.empty() ? "." : folder.string();
  UniqueFd fd(::open(name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return errno_status("cannot open folder", name, errno);
  if (::fsync(fd.get()) != 0) return errno_status("cannot fsync folder", name, errno);
  return Status::Ok();
}

// Writes and closes the temporary file; the caller fsyncs it, or removes it on failure.
Status write_temp(const std::string& tmp, const std::string& bytes) {
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return errno_status("cannot create", tmp, errno);
  RETURN_IF_ERROR(write_all(fd.get(), bytes, tmp));
  if (fd.close() != 0) return errno_status("cannot close", tmp, errno);
  return Status::Ok();
}

// fsync through a fresh descriptor: it flushes the file's data whoever wrote it.
Status fsync_file(const std::string& name) {
  UniqueFd fd(::open(name.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return errno_status("cannot open", name, errno);
  if (::fsync(fd.get()) != 0) return errno_status("cannot fsync", name, errno);
  return Status::Ok();
}

}  // namespace

Status write_file_atomic(const std::string& path, const std::string& bytes) {
  return write_file_atomic_with(path, [&](const std::string& tmp) { return write_temp(tmp, bytes); });
}

Status write_file_atomic_with(const std::string& path, const std::function<Status(const std::string& tmp)>& write) {
  const fs::path target(path);
  const fs::path folder = target.parent_path();
  if (!folder.empty()) {
    std::error_code ec;
    fs::create_directories(folder, ec);
    if (ec) return Internal("cannot create folder " + folder.string() + " for " + path + ": " + ec.message());
  }
  // The counter keeps two threads of one process writing the same path apart.
  static std::atomic<unsigned> counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  Status written = write(tmp);
  if (written.ok()) written = fsync_file(tmp);
  if (written.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    written = errno_status("cannot rename " + tmp + " to", path, errno);
  }
  if (!written.ok()) {
    ::unlink(tmp.c_str());
    return written;
  }
  return fsync_folder(folder).with_context("wrote " + path + ", but the rename may not survive a crash");
}

StatusOr<std::string> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return errno_status("cannot open", path, errno);
  std::string bytes;
  struct stat info {};
  if (::fstat(fd.get(), &info) == 0 && info.st_size > 0) bytes.reserve(static_cast<size_t>(info.st_size));
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status("cannot read", path, errno);
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<size_t>(n));
  }
  return bytes;
}

}  // namespace evosearch
