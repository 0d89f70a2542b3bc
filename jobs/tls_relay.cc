#include "jobs/tls_relay.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <future>
#include <mutex>
#include <string>

namespace evosearch {
namespace {

using Clock = std::chrono::steady_clock;

struct FreeSslContext {
  void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
};
struct FreeSsl {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslContext = std::unique_ptr<SSL_CTX, FreeSslContext>;
using Ssl = std::unique_ptr<SSL, FreeSsl>;

// Closes a file descriptor when it goes out of scope.
struct Fd {
  explicit Fd(int value) : fd(value) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(Fd&& other) noexcept : fd(other.fd) { other.fd = -1; }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int fd;
};

Status Unavailable(std::string message) { return Status(StatusCode::kUnavailable, std::move(message)); }

// This thread's OpenSSL error queue, emptied, as one line.
std::string ssl_errors() {
  std::string out;
  for (unsigned long e; (e = ERR_get_error()) != 0;) {
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    out += (out.empty() ? "" : "; ") + std::string(text);
  }
  return out.empty() ? "no detail from OpenSSL" : out;
}

// Until `fd` is ready for `events`; false when the deadline passed first.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left));
    if (r != 0 && !(r < 0 && errno == EINTR)) return true;  // ready, or an error the next call reports
  }
}

StatusOr<int> connect_tcp(const RedisUrl& url, Clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(url.host.c_str(), std::to_string(url.port).c_str(), &hints, &found);
  if (rc != 0) return Unavailable(url.describe() + ": cannot resolve the host: " + ::gai_strerror(rc));
  const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);
  std::string reason = "no address";
  for (const addrinfo* a = found; a; a = a->ai_next) {
    Fd fd(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (fd.fd < 0) {
      reason = std::strerror(errno);
      continue;
    }
    int error = ::connect(fd.fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
    if (error == EINPROGRESS) {
      socklen_t size = sizeof error;
      if (!wait_for(fd.fd, POLLOUT, deadline)) error = ETIMEDOUT;
      else if (::getsockopt(fd.fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) error = errno;
    }
    if (error == 0) {
      const int one = 1;
      ::setsockopt(fd.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as hiredis does: commands are small
      const int connected = fd.fd;
      fd.fd = -1;
      return connected;
    }
    reason = std::strerror(error);
  }
  return Unavailable(url.describe() + ": cannot connect: " + reason);
}

StatusOr<SslContext> make_context(const RedisUrl& url) {
  const std::string where = url.describe();
  SslContext context(SSL_CTX_new(TLS_client_method()));
  if (!context) return Internal(where + ": TLS: " + ssl_errors());
  SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_mode(context.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // A key with a passphrase is refused rather than asked for on the terminal.
  SSL_CTX_set_default_passwd_cb(context.get(), [](char*, int, int, void*) { return 0; });
  // Called only when the server asks for a certificate and this client has none: noted (in the
  // bool the SSL's app data points to), since a TLS 1.3 server refuses it only after the
  // handshake, in an alert that a write racing it can lose.
  SSL_CTX_set_client_cert_cb(context.get(), [](SSL* ssl, X509**, EVP_PKEY**) {
    *static_cast<bool*>(SSL_get_app_data(ssl)) = true;
    return 0;
  });
  const bool cas = url.tls_ca.empty() ? SSL_CTX_set_default_verify_paths(context.get()) == 1
                                      : SSL_CTX_load_verify_locations(context.get(), url.tls_ca.c_str(), nullptr) == 1;
  if (!cas) {
    return FailedPrecondition(where + ": cannot load the CA certificates " +
                              (url.tls_ca.empty() ? "of this system" : "ca=" + url.tls_ca) + ": " + ssl_errors());
  }
  if (!url.tls_cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(context.get(), url.tls_cert.c_str()) != 1) {
      return FailedPrecondition(where + ": cannot load cert=" + url.tls_cert + ": " + ssl_errors());
    }
    if (SSL_CTX_use_PrivateKey_file(context.get(), url.tls_key.c_str(), SSL_FILETYPE_PEM) != 1) {
      return FailedPrecondition(where + ": cannot load key=" + url.tls_key + " (PEM, no passphrase): " + ssl_errors());
    }
    if (SSL_CTX_check_private_key(context.get()) != 1) {
      return FailedPrecondition(where + ": key=" + url.tls_key + " is not the key of cert=" + url.tls_cert);
    }
  }
  return context;
}

// TLS over the connected non-blocking socket `tcp`, the server's certificate checked.
StatusOr<Ssl> handshake(SSL_CTX* context, int tcp, const RedisUrl& url, Clock::time_point deadline,
                        bool& asked_for_certificate) {
  const std::string where = url.describe();
  Ssl ssl(SSL_new(context));
  if (!ssl || SSL_set_fd(ssl.get(), tcp) != 1) return Internal(where + ": TLS: " + ssl_errors());
  SSL_set_app_data(ssl.get(), &asked_for_certificate);
  unsigned char address[sizeof(in6_addr)];
  const bool ip = ::inet_pton(AF_INET, url.host.c_str(), address) == 1 || ::inet_pton(AF_INET6, url.host.c_str(), address) == 1;
  // The certificate must name the host (or IP address) the URL names.
  const bool named = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), url.host.c_str()) == 1
                        : SSL_set1_host(ssl.get(), url.host.c_str()) == 1 &&
                              SSL_set_tlsext_host_name(ssl.get(), url.host.c_str()) == 1;
  if (!named) return Internal(where + ": TLS: cannot set the expected host name: " + ssl_errors());
  for (;;) {
    const int r = SSL_connect(ssl.get());
    if (r == 1) return ssl;
    const int error = SSL_get_error(ssl.get(), r);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      if (!wait_for(tcp, error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
        return Unavailable(where + ": the TLS handshake timed out");
      }
      continue;
    }
    const long verified = SSL_get_verify_result(ssl.get());
    if (verified != X509_V_OK) {
      return FailedPrecondition(where + ": the server's certificate is refused: " +
                                X509_verify_cert_error_string(verified) +
                                (url.tls_ca.empty() ? " (name its CA with ?ca=PATH)" : " (CA: " + url.tls_ca + ")"));
    }
    // The server went away mid-handshake (a restart): try again later. Anything else is a
    // configuration that retrying cannot fix (not TLS on that port, no shared protocol).
    if (error == SSL_ERROR_SYSCALL) return Unavailable(where + ": the TLS handshake was cut off");
    return FailedPrecondition(where + ": the TLS handshake failed (is TLS on at that port?): " + ssl_errors());
  }
}

// Why the server side ended, after a TLS call failed with `error`.
std::string server_side_ended(int error) {
  if (error == SSL_ERROR_ZERO_RETURN) return "the server closed the TLS connection";
  // OpenSSL 3 reports a server that went away without a close_notify (killed, restarted) as an
  // error of its own; any other is the TLS session failing, e.g. on a refused client certificate.
  if (error == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) != SSL_R_UNEXPECTED_EOF_WHILE_READING) {
    return "TLS error: " + ssl_errors();
  }
  ERR_clear_error();
  return "the TLS connection broke" + std::string(errno ? std::string(": ") + std::strerror(errno) : "");
}

// Shuttles bytes between `plain` (hiredis's connection) and `ssl` until either side closes;
// returns why the server side ended ("" when hiredis closed its end).
std::string shuttle(SSL* ssl, int tcp, int plain, bool asked_for_certificate) {
  constexpr size_t kMaxPending = 4 << 20;  // server bytes hiredis has not read yet
  std::string up, down;                    // hiredis -> server; server -> hiredis
  char buffer[16384];
  bool heard = false;  // a reply came
  const auto ended = [&](int error) {
    if (asked_for_certificate && !heard) {
      ERR_clear_error();
      return std::string("TLS error: the server asks for a client certificate and the job store URL gives none "
                         "(cert=PATH&key=PATH)");
    }
    return server_side_ended(error);
  };
  for (;;) {
    bool moved = false, ssl_wants_write = false;
    if (up.empty()) {
      const ssize_t n = ::recv(plain, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return "";  // hiredis closed
      if (n > 0) up.assign(buffer, static_cast<size_t>(n));
    }
    if (!up.empty()) {
      const int n = SSL_write(ssl, up.data(), static_cast<int>(up.size()));
      if (n > 0) {
        up.erase(0, static_cast<size_t>(n));
        moved = true;
      } else {
        const int error = SSL_get_error(ssl, n);
        if (error == SSL_ERROR_WANT_WRITE) ssl_wants_write = true;
        else if (error != SSL_ERROR_WANT_READ) return ended(error);
      }
    }
    while (down.size() < kMaxPending) {
      const int n = SSL_read(ssl, buffer, sizeof buffer);
      if (n > 0) {
        down.append(buffer, static_cast<size_t>(n));
        moved = heard = true;
        continue;
      }
      const int error = SSL_get_error(ssl, n);
      if (error == SSL_ERROR_WANT_WRITE) ssl_wants_write = true;
      else if (error != SSL_ERROR_WANT_READ) return ended(error);
      break;
    }
    if (!down.empty()) {
      const ssize_t n = ::send(plain, down.data(), down.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        down.erase(0, static_cast<size_t>(n));
        moved = true;
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return "";  // hiredis closed its end
      }
    }
    if (moved) continue;
    pollfd fds[2] = {{plain, static_cast<short>((up.empty() ? POLLIN : 0) | (down.empty() ? 0 : POLLOUT)), 0},
                     {tcp, static_cast<short>((down.size() < kMaxPending ? POLLIN : 0) | (ssl_wants_write ? POLLOUT : 0)), 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return std::string("poll: ") + std::strerror(errno);
    // hiredis closed its end (POLLHUP comes whatever was asked): bytes still for the server are
    // moot, and a server that stopped reading must not keep this thread spinning.
    if (fds[0].revents & (POLLHUP | POLLERR)) return "";
  }
}

}  // namespace

StatusOr<std::unique_ptr<TlsRelay>> TlsRelay::start(const RedisUrl& url, std::chrono::seconds timeout) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return Internal(url.describe() + ": cannot make a socket pair: " + std::strerror(errno));
  }
  std::unique_ptr<TlsRelay> relay(new TlsRelay(pair[0]));
  std::promise<Status> ready;
  std::future<Status> started = ready.get_future();
  // Everything TLS happens on the relay thread, with SIGPIPE blocked there: OpenSSL writes to a
  // socket the server may have closed, which would otherwise end the process.
  relay->thread_ = std::thread([self = relay.get(), url, timeout, ready = std::move(ready), plain = Fd(pair[1])]() mutable {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    const Clock::time_point deadline = Clock::now() + timeout;
    auto context = make_context(url);
    if (!context.ok()) return ready.set_value(context.status());
    auto tcp = connect_tcp(url, deadline);
    if (!tcp.ok()) return ready.set_value(tcp.status());
    const Fd socket(*tcp);
    bool asked_for_certificate = false;
    auto ssl = handshake(context->get(), socket.fd, url, deadline, asked_for_certificate);
    if (!ssl.ok()) return ready.set_value(ssl.status());
    ready.set_value(Status::Ok());
    ERR_clear_error();  // SSL_get_error reads the queue: it must start empty
    const std::string ended = shuttle(ssl->get(), socket.fd, plain.fd, asked_for_certificate);
    if (ended.empty()) {
      SSL_shutdown(ssl->get());  // best effort: the socket is non-blocking
      return;
    }
    {
      const std::lock_guard<std::mutex> lock(self->mutex_);
      self->ended_ = ended;
    }
    // hiredis reads the end of the stream, as from a server that closed a TCP connection; its
    // end stays open until it closes it, so that its writes meanwhile fail no louder than that.
    ::shutdown(plain.fd, SHUT_WR);
    char ignored[4096];
    while (::recv(plain.fd, ignored, sizeof ignored, 0) > 0) {
    }
  });
  const Status status = started.get();
  if (!status.ok()) {
    ::close(relay->client_fd_);  // the thread has ended or is ending: it closed its end
    return status;
  }
  return relay;
}

std::string TlsRelay::ended() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return ended_;
}

TlsRelay::~TlsRelay() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace evosearch
