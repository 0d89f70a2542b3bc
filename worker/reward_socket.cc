#include "worker/reward_socket.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace evosearch {
namespace {

using Clock = std::chrono::steady_clock;

// A reply is a few numbers per sample; anything this large is not one.
constexpr uint32_t kMaxReplyBytes = 64u << 20;

Status Unavailable(std::string message) { return Status(StatusCode::kUnavailable, std::move(message)); }

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Waits until `fd` is ready for `events` or `deadline` passes.
Status wait_ready(int fd, short events, Clock::time_point deadline, double timeout_seconds) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      char text[64];
      std::snprintf(text, sizeof(text), "no reply within %g s (timeout_seconds)", timeout_seconds);
      return DeadlineExceeded(text);
    }
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
    if (n > 0) return Status::Ok();
    if (n < 0 && errno != EINTR) return Unavailable(errno_text("poll"));
  }
}

Status send_all(int fd, const std::string& bytes, Clock::time_point deadline, double timeout) {
  for (size_t sent = 0; sent < bytes.size();) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      RETURN_IF_ERROR(wait_ready(fd, POLLOUT, deadline, timeout));
    } else if (n < 0 && errno != EINTR) {
      return Unavailable(errno_text("send"));
    }
  }
  return Status::Ok();
}

Status recv_all(int fd, char* out, size_t size, Clock::time_point deadline, double timeout) {
  for (size_t got = 0; got < size;) {
    const ssize_t n = ::recv(fd, out + got, size - got, MSG_DONTWAIT);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n == 0) {
      return Unavailable("the service closed the connection before replying");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      RETURN_IF_ERROR(wait_ready(fd, POLLIN, deadline, timeout));
    } else if (errno != EINTR) {
      return Unavailable(errno_text("recv"));
    }
  }
  return Status::Ok();
}

}  // namespace

RewardSocket::~RewardSocket() { disconnect(); }

std::string RewardSocket::describe() const {
  return "reward '" + options_.reward + "' (service unix:" + options_.path + ")";
}

void RewardSocket::disconnect() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status RewardSocket::connect() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (options_.path.size() >= sizeof(addr.sun_path)) {
    return InvalidArgument("the socket path is longer than the " + std::to_string(sizeof(addr.sun_path) - 1) +
                           " bytes a Unix socket address holds");
  }
  std::memcpy(addr.sun_path, options_.path.c_str(), options_.path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Unavailable(errno_text("socket"));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    const Status s = Unavailable(errno_text("connect"));
    ::close(fd);
    return s;
  }
  fd_ = fd;
  return Status::Ok();
}

Status RewardSocket::exchange(const std::string& frame, std::string& reply) {
  if (fd_ < 0) RETURN_IF_ERROR(connect());
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(options_.timeout_seconds));
  RETURN_IF_ERROR(send_all(fd_, frame, deadline, options_.timeout_seconds));
  unsigned char header[4];
  RETURN_IF_ERROR(recv_all(fd_, reinterpret_cast<char*>(header), 4, deadline, options_.timeout_seconds));
  const uint32_t size = header[0] | header[1] << 8 | header[2] << 16 | static_cast<uint32_t>(header[3]) << 24;
  if (size > kMaxReplyBytes) {
    return DataLoss("a reply frame of " + std::to_string(size) + " bytes; is this a reward service (4-byte little-endian "
                    "length, then a ScoreReply)?");
  }
  reply.resize(size);
  return recv_all(fd_, reply.data(), size, deadline, options_.timeout_seconds);
}

StatusOr<proto::ScoreReply> RewardSocket::call(const proto::ScoreRequest& request) {
  std::string frame(4, '\0');
  const std::string body = request.SerializeAsString();
  if (body.size() > UINT32_MAX) return InvalidArgument(describe() + ": a request of more than 4 GiB; use a smaller batch_size");
  const auto size = static_cast<uint32_t>(body.size());
  for (int i = 0; i < 4; ++i) frame[i] = static_cast<char>((size >> (8 * i)) & 0xff);
  frame += body;
  const auto start = Clock::now();
  double backoff = options_.first_backoff_seconds;
  Status last;
  for (int attempt = 1; attempt <= options_.attempts; ++attempt) {
    std::string bytes;
    last = exchange(frame, bytes);
    if (last.ok()) {
      proto::ScoreReply reply;
      if (!reply.ParseFromString(bytes)) return DataLoss(describe() + ": the reply is not a ScoreReply");
      return reply;
    }
    disconnect();  // a half-read reply leaves the connection out of step: start afresh
    if (last.code() != StatusCode::kUnavailable && last.code() != StatusCode::kDeadlineExceeded) break;
    if (attempt < options_.attempts) {
      std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
      backoff *= 2;
    }
  }
  if (last.code() != StatusCode::kUnavailable && last.code() != StatusCode::kDeadlineExceeded) {
    return last.with_context(describe());
  }
  char took[32];
  std::snprintf(took, sizeof(took), "%.1f", std::chrono::duration<double>(Clock::now() - start).count());
  return Unavailable(describe() + " is out of reach (" + last.message() + "; " + std::to_string(options_.attempts) +
                     " tries over " + took + " s); start the service, then run the same command again to resume");
}

}  // namespace evosearch
