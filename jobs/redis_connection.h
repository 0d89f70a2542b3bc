// One connection to a Redis server (hiredis), for the Redis job store: binary-safe commands and
// Lua scripts, connect and command timeouts, AUTH and SELECT, TLS (rediss://, through a
// TlsRelay), and a reconnect on the next command after the connection broke. Not thread-safe:
// one per store object.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "jobs/redis_url.h"
#include "jobs/tls_relay.h"

struct redisContext;
struct redisReply;

namespace evosearch {

struct FreeRedisReply {
  void operator()(redisReply* reply) const;
};
using RedisReply = std::unique_ptr<redisReply, FreeRedisReply>;

class RedisConnection {
 public:
  static constexpr std::chrono::seconds kConnectTimeout{5};
  static constexpr std::chrono::seconds kCommandTimeout{10};

  explicit RedisConnection(RedisUrl url);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Runs one command; connects first when not connected. Unavailable (naming host:port) when
  // the server cannot be reached or stops answering, FailedPrecondition when AUTH is refused,
  // Internal for another error reply (naming the command, never its arguments).
  StatusOr<RedisReply> command(const std::vector<std::string>& args);

  // Runs a Lua script with EVALSHA, loading it (SCRIPT LOAD) on first use and again after the
  // server lost its script cache (a restart).
  StatusOr<RedisReply> eval(const std::string& script, const std::vector<std::string>& keys,
                            const std::vector<std::string>& args);

  const RedisUrl& url() const { return url_; }

 private:
  struct FreeContext {
    void operator()(redisContext* context) const;
  };

  Status connect();
  // The reply as it came, error replies included; Unavailable when there was none.
  StatusOr<RedisReply> send(const std::vector<std::string>& args);
  Status error_status(const std::string& command, const std::string& error) const;

  RedisUrl url_;
  // rediss://: the TLS relay behind context_. Declared first so that context_ (whose redisFree
  // closes the relay's plain end, which ends the relay) is destroyed before it is joined.
  std::unique_ptr<TlsRelay> relay_;
  std::unique_ptr<redisContext, FreeContext> context_;
  std::map<std::string, std::string> script_sha_;  // script text -> SHA1 the server knows it by
};

}  // namespace evosearch
