// A TCP proxy that puts network faults between clients and a server on this machine, for tests:
// it listens on a loopback port and forwards each connection it accepts to the server's port.
// Its mode, switched at any time from the test's thread, applies to every connection, open or
// new: pass (bytes through as they come), delay (each chunk read goes on a random time in
// [min, max] later, order kept), or blackhole (a partition: connections are accepted and kept
// open, nothing is forwarded either way; what was sent waits, in the proxy or in the sockets, and
// goes on once the mode is pass or delay again, as a healed network's retransmissions do).
// drop_connections() closes every open connection at once, both ends, bytes not yet forwarded
// lost. Cutting one client off while others run: one proxy per client.
//
// One thread, poll() and plain sockets.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace evosearch::testing_support {

class FaultProxy {
 public:
  // Listens on a free loopback port; port() is 0 when that failed (error() says why).
  explicit FaultProxy(int upstream_port);
  ~FaultProxy();  // closes everything, joins the thread
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  const std::string& error() const { return error_; }
  std::string redis_url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }

  void pass();
  void delay(std::chrono::milliseconds min, std::chrono::milliseconds max);
  void blackhole();
  // Closes every connection open now; returns at once (the proxy thread closes them).
  void drop_connections();

  // Counts since the start, for tests to see the fault was met.
  int64_t connections() const { return accepted_; }  // accepted
  int64_t dropped() const { return dropped_; }        // closed by drop_connections()
  int64_t bytes() const { return bytes_; }            // forwarded, both ways

 private:
  struct Mode {
    bool blackhole = false;
    std::chrono::milliseconds min{0}, max{0};  // delay
  };
  void set(Mode mode);
  void run();  // the proxy's thread
  void wake();

  const int upstream_port_;
  int port_ = 0;
  std::string error_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // written by the test's thread, read by the proxy's, to make poll() return
  std::mutex mutex_;
  Mode mode_;                     // guarded by mutex_
  int64_t drops_requested_ = 0;   // guarded by mutex_
  bool stopping_ = false;         // guarded by mutex_
  std::atomic<int64_t> accepted_{0}, dropped_{0}, bytes_{0};
  std::thread thread_;
};

}  // namespace evosearch::testing_support
