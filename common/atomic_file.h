// Whole-file reads and crash-safe writes: a reader sees the old file or the new one, never half.
#pragma once

#include <functional>
#include <string>

#include "common/status.h"

namespace evosearch {

// Writes `bytes` to `path` atomically: into a temporary file in the same folder (named
// "<path>.tmp.<pid>.<n>"), fsynced, renamed over `path`, then the folder fsynced so the
// rename survives a crash. Creates missing parent folders. On failure the temporary file is
// removed and the Status names the path and the system's reason.
Status write_file_atomic(const std::string& path, const std::string& bytes);

// The same for a writer that must make the file itself (an encoder that seeks back to finish
// it): `write` creates and fills the temporary file it is given; then it is fsynced and renamed
// over `path` as above. When `write` fails the temporary file is removed and its Status returned.
Status write_file_atomic_with(const std::string& path, const std::function<Status(const std::string& tmp)>& write);

// Reads the whole file. NotFound when it does not exist.
StatusOr<std::string> read_file(const std::string& path);

}  // namespace evosearch
