// TLS for hiredis 0.14 (Debian 12's, which has none): a thread that relays bytes between one end
// of a socket pair, which hiredis uses as its connection (redisConnectFd), and a TLS connection
// (OpenSSL) to the server. The relay ends, closing its end, when either side closes: hiredis then
// sees the connection drop exactly as it sees a plain TCP one drop, and reconnects the same way.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "jobs/redis_url.h"

namespace evosearch {

class TlsRelay {
 public:
  // Connects to url.host:url.port, completes the TLS handshake (the server's certificate checked
  // against url.tls_ca, else the system's CAs, and against the host name or IP address; this
  // client's certificate sent when url.tls_cert is set) within `timeout`, and starts relaying.
  // Unavailable when the server cannot be reached; FailedPrecondition when a certificate, key
  // or CA file is unusable or the server's certificate is refused (retrying would not help).
  static StatusOr<std::unique_ptr<TlsRelay>> start(const RedisUrl& url, std::chrono::seconds timeout);

  // Waits for the relay thread: call after closing client_fd() (hiredis's redisFree does).
  ~TlsRelay();
  TlsRelay(const TlsRelay&) = delete;
  TlsRelay& operator=(const TlsRelay&) = delete;

  // The plain end for redisConnectFd, which takes it over (and closes it).
  int client_fd() const { return client_fd_; }

  // Why the server's side ended (a TLS alert such as a refused client certificate, the server
  // closing), once it has; "" while it runs.
  std::string ended() const;

 private:
  explicit TlsRelay(int client_fd) : client_fd_(client_fd) {}

  int client_fd_;
  mutable std::mutex mutex_;
  std::string ended_;   // written by the relay thread before hiredis can see the connection end
  std::thread thread_;  // owns the TLS connection and the relay's end of the pair; ends on its own
};

}  // namespace evosearch
