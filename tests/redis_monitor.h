// Records every command a Redis server runs, in the order it runs them, through MONITOR: each
// script call (EVAL/EVALSHA with its keys and arguments) followed by the commands the script ran
// (client "lua"). The history checker (tests/job_history.h) replays these lines. A test-only
// observer, connected straight to the server (not through a fault proxy).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <hiredis/hiredis.h>
#include <poll.h>

namespace evosearch::testing_support {

// One MONITOR line: `<seconds.micros> [<db> <client>] "arg" "arg" ...`, its arguments unquoted.
struct MonitorLine {
  double seconds = 0;     // the server's clock
  std::string client;     // "lua" for a command a script ran
  std::vector<std::string> args;
};

// Undoes MONITOR's quoting (sdscatrepr: \\ \" \n \r \t \a \b \xHH); false if `line` is not one.
inline bool parse_monitor_line(const std::string& line, MonitorLine& out) {
  const size_t open = line.find(" ["), close = line.find("] ");
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  out = MonitorLine{};
  out.seconds = std::atof(line.substr(0, open).c_str());
  const std::string inside = line.substr(open + 2, close - open - 2);
  out.client = inside.substr(inside.find(' ') + 1);
  for (size_t i = close + 2; i < line.size();) {
    if (line[i] == ' ') {
      ++i;
      continue;
    }
    if (line[i] != '"') return false;
    std::string arg;
    for (++i; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] != '\\' || i + 1 >= line.size()) {
        arg += line[i];
        continue;
      }
      const char c = line[++i];
      if (c == 'x' && i + 2 < line.size()) {
        arg += static_cast<char>(std::stoi(line.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        arg += c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c == 'a' ? '\a' : c == 'b' ? '\b' : c;
      }
    }
    if (i >= line.size()) return false;  // no closing quote
    ++i;
    out.args.push_back(std::move(arg));
  }
  return true;
}

class RedisMonitor {
 public:
  // Connects to 127.0.0.1:`port` and starts recording; error() says why not. It checks, with a
  // script of its own, that this server shows a script's call before the commands it ran (the
  // order the checker relies on).
  explicit RedisMonitor(int port) : port_(port) {
    monitor_ = redisConnect("127.0.0.1", port);
    if (!monitor_ || monitor_->err) {
      fail("cannot connect to monitor port " + std::to_string(port));
      return;
    }
    auto* ok = static_cast<redisReply*>(redisCommand(monitor_, "MONITOR"));
    const bool monitoring = ok && ok->type == REDIS_REPLY_STATUS;
    if (ok) freeReplyObject(ok);
    if (!monitoring) {
      fail("MONITOR was refused");
      return;
    }
    thread_ = std::thread([this] { run(); });
    const std::vector<std::string> probe = until_marker("probe");
    if (probe.size() < 2 || probe[probe.size() - 2].find("[0 lua]") != std::string::npos ||
        probe.back().find("[0 lua]") == std::string::npos) {
      std::string shown;
      for (const std::string& l : probe) shown += "\n  " + l;
      fail("this Redis does not show a script's call before the commands it ran:" + shown);
    }
  }
  ~RedisMonitor() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
    if (monitor_) redisFree(monitor_);
  }
  RedisMonitor(const RedisMonitor&) = delete;
  RedisMonitor& operator=(const RedisMonitor&) = delete;

  std::string error() {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }

  // Every line so far, up to a marker command this sends now (so nothing the server ran before
  // this call is missing). Lines that are not commands' (the probe's) are left out.
  std::vector<std::string> lines() { return until_marker("end"); }

 private:
  void fail(const std::string& why) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (error_.empty()) error_ = why;
  }

  // Sends a marker script from another connection and waits (up to 10 s) until MONITOR shows it;
  // the lines recorded since the last marker, the marker's own lines last.
  std::vector<std::string> until_marker(const std::string& name) {
    if (!thread_.joinable()) return {};
    const std::string key = "evosearch-monitor-" + name + "-" + std::to_string(++markers_);
    redisContext* c = redisConnect("127.0.0.1", port_);
    if (!c || c->err) {
      fail("cannot connect to send a marker");
      if (c) redisFree(c);
      return {};
    }
    auto* r = static_cast<redisReply*>(redisCommand(c, "EVAL %s 1 %s", "return redis.call('EXISTS', KEYS[1])", key.c_str()));
    if (r) freeReplyObject(r);
    redisFree(c);
    for (int i = 0; i < 1000; ++i) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (size_t n = 0; n < lines_.size(); ++n) {
          if (lines_[n].find("\"EXISTS\" \"" + key + "\"") == std::string::npos) continue;
          std::vector<std::string> out(lines_.begin(), lines_.begin() + static_cast<long>(n) + 1);
          lines_.erase(lines_.begin(), lines_.begin() + static_cast<long>(n) + 1);
          return out;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    fail("MONITOR did not show the marker " + key + " within 10 s");
    return {};
  }

  void run() {  // the recorder's thread
    while (!stopping_) {
      pollfd p{monitor_->fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      if (redisBufferRead(monitor_) != REDIS_OK) {
        fail("the MONITOR connection failed");
        return;
      }
      void* reply = nullptr;
      while (redisGetReplyFromReader(monitor_, &reply) == REDIS_OK && reply) {
        auto* r = static_cast<redisReply*>(reply);
        if (r->type == REDIS_REPLY_STATUS) {
          std::lock_guard<std::mutex> lock(mutex_);
          lines_.emplace_back(r->str, r->len);
        }
        freeReplyObject(r);
        reply = nullptr;
      }
    }
  }

  const int port_;
  redisContext* monitor_ = nullptr;  // read by the recorder's thread once it runs
  std::atomic<bool> stopping_{false};
  int markers_ = 0;                  // the test's thread
  std::mutex mutex_;
  std::vector<std::string> lines_;  // guarded by mutex_
  std::string error_;               // guarded by mutex_: the first failure
  std::thread thread_;
};

}  // namespace evosearch::testing_support
