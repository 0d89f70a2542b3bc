#include "common/checksum.h"

#include <cerrno>
#include <cstring>
#include <memory>

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include "common/unique_fd.h"

namespace evosearch {
namespace {

struct FreeDigest {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using DigestContext = std::unique_ptr<EVP_MD_CTX, FreeDigest>;

// An incremental SHA-256; every OpenSSL call is checked (they fail only on allocation failure).
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { ok_ = ctx_ && EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) == 1; }
  void update(const void* data, size_t size) { ok_ = ok_ && EVP_DigestUpdate(ctx_.get(), data, size) == 1; }
  StatusOr<std::string> hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (!ok_ || EVP_DigestFinal_ex(ctx_.get(), digest, &size) != 1) return Internal("OpenSSL's SHA-256 failed");
    static const char* const kHex = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < size; ++i) {
      out += kHex[digest[i] >> 4];
      out += kHex[digest[i] & 15];
    }
    return out;
  }

 private:
  DigestContext ctx_;
  bool ok_ = false;
};

}  // namespace

std::string sha256_hex(const std::string& bytes) {
  Sha256 sha;
  sha.update(bytes.data(), bytes.size());
  StatusOr<std::string> hex = sha.hex();
  // Only an allocation failure inside OpenSSL gets here, and then nothing else would work either.
  return hex.ok() ? *hex : std::string();
}

StatusOr<std::string> sha256_file_hex(const std::string& path) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    const std::string message = "cannot open " + path + ": " + std::strerror(errno);
    return errno == ENOENT ? NotFound(message) : Internal(message);
  }
  Sha256 sha;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Internal("cannot read " + path + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    sha.update(buffer, static_cast<size_t>(n));
  }
  return sha.hex();
}

}  // namespace evosearch
