// SHA-256 of bytes and of files (OpenSSL's libcrypto), as lower-case hex: input digests of a job
// and checksums of checkpoint shards.
#pragma once

#include <string>

#include "common/status.h"

namespace evosearch {

std::string sha256_hex(const std::string& bytes);

// Streams the file in blocks, so a large model file is never read into memory at once. NotFound
// when it does not exist; other read errors name the path.
StatusOr<std::string> sha256_file_hex(const std::string& path);

}  // namespace evosearch
