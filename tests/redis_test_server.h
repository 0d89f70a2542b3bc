// A private redis-server for tests that stop and restart a server or set a password, so they
// never disturb the shared test server: its own loopback port and folder, append-only file on.
#pragma once

#include <chrono>
#include <csignal>
#include <string>
#include <thread>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jobs/redis_connection.h"

namespace evosearch::testing_support {

// A loopback port nothing listens on right now.
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), size) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

// TLS only (no plain port): the server's certificate and key, the CA it checks clients against,
// and the client certificate and key the probe and url() use (empty: clients need none).
struct TestRedisTls {
  std::string cert, key, ca, client_cert, client_key;
};

class TestRedisServer {
 public:
  TestRedisServer(std::string dir, int port, std::string password = "", TestRedisTls tls = {})
      : dir_(std::move(dir)), port_(port), password_(std::move(password)), tls_(std::move(tls)) {}
  ~TestRedisServer() { stop(); }

  // Starts it and waits until it answers PING; false (with the reason in `error`) otherwise,
  // e.g. when redis-server is not installed.
  bool start(std::string& error) {
    pid_ = ::fork();
    if (pid_ == 0) {
      const int log = ::open((dir_ + "/redis.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(log, 1);
      ::dup2(log, 2);
      const std::string port = std::to_string(port_);
      // The password in a file of mode 0600, not on redis-server's command line: the secrets
      // tests look for it in every process's /proc/PID/cmdline.
      const std::string config = dir_ + "/redis.conf";
      const int conf = ::open(config.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      std::string text = password_.empty() ? "" : "requirepass " + password_ + "\n";
      if (!tls_.cert.empty()) {
        text += "port 0\ntls-port " + port + "\ntls-cert-file " + tls_.cert + "\ntls-key-file " + tls_.key +
                "\ntls-ca-cert-file " + tls_.ca + "\ntls-auth-clients " + (tls_.client_cert.empty() ? "no" : "yes") + "\n";
      } else {
        text += "port " + port + "\n";
      }
      // Two loopback addresses, so a test can reach the server under an address its certificate
      // does not name without needing a resolver (a fresh root has no /etc/hosts for "localhost").
      text += "bind 127.0.0.1 127.0.0.2\n";
      if (conf < 0 || ::write(conf, text.data(), text.size()) != static_cast<ssize_t>(text.size())) ::_exit(126);
      ::close(conf);
      ::execlp("redis-server", "redis-server", config.c_str(), "--dir", dir_.c_str(),
               "--appendonly", "yes", "--save", "", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    RedisUrl url;
    url.host = "127.0.0.1";
    url.port = port_;
    url.password = password_;
    url.tls = !tls_.cert.empty();
    url.tls_ca = tls_.ca;
    url.tls_cert = tls_.client_cert;
    url.tls_key = tls_.client_key;
    for (int i = 0; i < 500; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error = "redis-server exited with status " + std::to_string(status) + " (not installed? see " + dir_ + "/redis.log)";
        return false;
      }
      RedisConnection probe(url);
      if (probe.command({"PING"}).ok()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    error = "redis-server on port " + std::to_string(port_) + " did not answer PING within 10 s";
    stop();
    return false;
  }

  // SIGTERM: a clean shutdown, which flushes the append-only file.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // Where it keeps its password (mode 0600), when it has one.
  std::string config_file() const { return dir_ + "/redis.conf"; }

  // With TLS: rediss://, the CA and the client certificate in the query.
  std::string url(const std::string& password) const {
    std::string query;
    if (!tls_.cert.empty()) {
      query = "?ca=" + tls_.ca + (tls_.client_cert.empty() ? "" : "&cert=" + tls_.client_cert + "&key=" + tls_.client_key);
    }
    return (tls_.cert.empty() ? "redis://" : "rediss://") + (password.empty() ? "" : ":" + password + "@") +
           "127.0.0.1:" + std::to_string(port_) + "/0" + query;
  }

 private:
  std::string dir_;
  int port_;
  std::string password_;
  TestRedisTls tls_;
  pid_t pid_ = -1;
};

}  // namespace evosearch::testing_support
