#include "fault_proxy.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <random>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace evosearch::testing_support {
namespace {

using Clock = std::chrono::steady_clock;

// A side stops being read while this much of what it sent waits to go on.
constexpr size_t kMaxQueued = 1 << 20;

struct Chunk {
  Clock::time_point due;  // not sent before
  std::string bytes;
  size_t sent = 0;
};

// One way of a connection: what its source sent, waiting to go to its destination.
struct Direction {
  std::deque<Chunk> chunks;
  size_t queued = 0;  // bytes in chunks, not yet sent
  bool eof = false;   // the source has finished sending
  bool shut = false;  // ... and that was passed on (SHUT_WR on the destination)
  Clock::time_point last_due{};
};

struct Link {
  int client = -1, server = -1;
  Direction up, down;  // client -> server, server -> client
  bool dead = false;   // a socket failed: closed on this pass
  ~Link() {
    if (client >= 0) ::close(client);
    if (server >= 0) ::close(server);
  }
};

int connect_upstream(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

// Reads what `from` has into `d`, due `delay` from now (never before what it sent earlier).
void read_into(int from, Direction& d, std::chrono::milliseconds delay, bool& dead) {
  char buffer[65536];
  const ssize_t n = ::recv(from, buffer, sizeof buffer, MSG_DONTWAIT);
  if (n > 0) {
    Chunk chunk;
    chunk.due = std::max(Clock::now() + delay, d.last_due);
    chunk.bytes.assign(buffer, static_cast<size_t>(n));
    d.last_due = chunk.due;
    d.queued += chunk.bytes.size();
    d.chunks.push_back(std::move(chunk));
  } else if (n == 0) {
    d.eof = true;
  } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    dead = true;
  }
}

// Sends the chunks of `d` that are due to `to`; the bytes sent.
int64_t write_from(Direction& d, int to, bool& dead) {
  int64_t total = 0;
  const auto now = Clock::now();
  while (!d.chunks.empty() && d.chunks.front().due <= now) {
    Chunk& c = d.chunks.front();
    const ssize_t n = ::send(to, c.bytes.data() + c.sent, c.bytes.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) dead = true;
      break;
    }
    c.sent += static_cast<size_t>(n);
    d.queued -= static_cast<size_t>(n);
    total += n;
    if (c.sent < c.bytes.size()) break;
    d.chunks.pop_front();
  }
  return total;
}

bool due_now(const Direction& d, Clock::time_point now) { return !d.chunks.empty() && d.chunks.front().due <= now; }

}  // namespace

FaultProxy::FaultProxy(int upstream_port) : upstream_port_(upstream_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
      ::listen(listen_fd_, 64) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0 ||
      ::pipe2(wake_, O_NONBLOCK | O_CLOEXEC) != 0) {
    error_ = std::string("cannot listen on a loopback port: ") + std::strerror(errno);
    return;
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { run(); });
}

FaultProxy::~FaultProxy() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake();
  if (thread_.joinable()) thread_.join();
  for (int fd : {listen_fd_, wake_[0], wake_[1]}) {
    if (fd >= 0) ::close(fd);
  }
}

void FaultProxy::pass() { set(Mode{}); }

void FaultProxy::delay(std::chrono::milliseconds min, std::chrono::milliseconds max) {
  Mode mode;
  mode.min = min;
  mode.max = std::max(min, max);
  set(mode);
}

void FaultProxy::blackhole() {
  Mode mode;
  mode.blackhole = true;
  set(mode);
}

void FaultProxy::drop_connections() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++drops_requested_;
  }
  wake();
}

void FaultProxy::set(Mode mode) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    mode_ = mode;
  }
  wake();
}

void FaultProxy::wake() {
  const char byte = 1;
  if (wake_[1] >= 0) (void)!::write(wake_[1], &byte, 1);  // a full pipe wakes it as well
}

void FaultProxy::run() {
  std::vector<std::unique_ptr<Link>> links;
  std::mt19937 random(20);
  int64_t drops_done = 0;
  for (;;) {
    Mode mode;
    int64_t drops = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      mode = mode_;
      drops = drops_requested_;
    }
    if (drops != drops_done) {
      dropped_ += static_cast<int64_t>(links.size());
      links.clear();
      drops_done = drops;
    }
    const auto now = Clock::now();
    std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    int timeout = -1;
    auto until = [&](const Direction& d) {
      if (d.chunks.empty() || d.chunks.front().due <= now) return;
      const auto ms = std::chrono::ceil<std::chrono::milliseconds>(d.chunks.front().due - now).count();
      timeout = timeout < 0 ? static_cast<int>(ms) : std::min(timeout, static_cast<int>(ms));
    };
    for (const auto& link : links) {
      short client = 0, server = 0;
      if (!mode.blackhole) {  // a partition: nothing read, nothing written, nothing noticed
        if (!link->up.eof && link->up.queued < kMaxQueued) client |= POLLIN;
        if (!link->down.eof && link->down.queued < kMaxQueued) server |= POLLIN;
        if (due_now(link->up, now)) server |= POLLOUT;
        if (due_now(link->down, now)) client |= POLLOUT;
        until(link->up);
        until(link->down);
      }
      // A socket polled for nothing is left out: poll() would report its hang-up over and over.
      fds.push_back({client ? link->client : -1, client, 0});
      fds.push_back({server ? link->server : -1, server, 0});
    }
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) return;
    if (fds[1].revents & POLLIN) {
      char drain[256];
      while (::read(wake_[0], drain, sizeof drain) > 0) {
      }
    }
    std::uniform_int_distribution<int64_t> pick(mode.min.count(), mode.max.count());
    for (size_t i = 0; i < links.size(); ++i) {
      Link& link = *links[i];
      const pollfd& client = fds[2 + 2 * i];
      const pollfd& server = fds[3 + 2 * i];
      const short readable = POLLIN | POLLHUP | POLLERR;
      if ((client.events & POLLIN) && (client.revents & readable)) {
        read_into(link.client, link.up, std::chrono::milliseconds(pick(random)), link.dead);
      }
      if ((server.events & POLLIN) && (server.revents & readable)) {
        read_into(link.server, link.down, std::chrono::milliseconds(pick(random)), link.dead);
      }
      if (!mode.blackhole) {
        bytes_ += write_from(link.up, link.server, link.dead);
        bytes_ += write_from(link.down, link.client, link.dead);
        // An end that finished sending, once all it sent went on: the other end hears it.
        for (auto [d, to] : {std::pair<Direction*, int>{&link.up, link.server}, {&link.down, link.client}}) {
          if (d->eof && d->chunks.empty() && !d->shut) {
            ::shutdown(to, SHUT_WR);
            d->shut = true;
          }
        }
      }
    }
    links.erase(std::remove_if(links.begin(), links.end(),
                               [](const auto& l) { return l->dead || (l->up.shut && l->down.shut); }),
                links.end());
    if (fds[0].revents & POLLIN) {
      for (;;) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        auto link = std::make_unique<Link>();
        link->client = fd;
        link->server = connect_upstream(upstream_port_);
        ++accepted_;
        if (link->server >= 0) links.push_back(std::move(link));  // otherwise closed: the server is down
      }
    }
  }
}

}  // namespace evosearch::testing_support
