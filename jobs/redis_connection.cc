#include "jobs/redis_connection.h"

#include <hiredis/hiredis.h>
#include <unistd.h>

namespace evosearch {
namespace {

timeval to_timeval(std::chrono::seconds s) { return timeval{static_cast<time_t>(s.count()), 0}; }

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// The server cannot be reached now: the caller may retry with backoff.
Status Unavailable(std::string message) { return Status(StatusCode::kUnavailable, std::move(message)); }

}  // namespace

void FreeRedisReply::operator()(redisReply* reply) const { freeReplyObject(reply); }
void RedisConnection::FreeContext::operator()(redisContext* context) const { redisFree(context); }

RedisConnection::RedisConnection(RedisUrl url) : url_(std::move(url)) {}
RedisConnection::~RedisConnection() = default;

Status RedisConnection::connect() {
  const std::string where = url_.describe();
  relay_.reset();  // an earlier connection's relay, which ended when its context was freed
  if (url_.tls) {
    ASSIGN_OR_RETURN(relay_, TlsRelay::start(url_, kConnectTimeout));
    context_.reset(redisConnectFd(relay_->client_fd()));  // takes the fd over: redisFree closes it
    if (!context_) ::close(relay_->client_fd());
  } else {
    context_.reset(redisConnectWithTimeout(url_.host.c_str(), url_.port, to_timeval(kConnectTimeout)));
  }
  if (!context_) return Unavailable(where + ": cannot allocate a connection");
  if (context_->err) {
    const std::string reason = context_->errstr;
    context_.reset();
    return Unavailable(where + ": cannot connect: " + reason);
  }
  if (redisSetTimeout(context_.get(), to_timeval(kCommandTimeout)) != REDIS_OK) {
    context_.reset();
    return Unavailable(where + ": cannot set the command timeout");
  }
  std::vector<std::vector<std::string>> setup;
  if (!url_.password.empty()) {
    setup.push_back(url_.user.empty() ? std::vector<std::string>{"AUTH", url_.password}
                                      : std::vector<std::string>{"AUTH", url_.user, url_.password});
  }
  if (url_.db != 0) setup.push_back({"SELECT", std::to_string(url_.db)});
  for (const auto& args : setup) {
    ASSIGN_OR_RETURN(const RedisReply reply, send(args));
    if (reply->type == REDIS_REPLY_ERROR) {
      const Status error = error_status(args[0], std::string(reply->str, reply->len));
      context_.reset();
      return error;
    }
  }
  return Status::Ok();
}

StatusOr<RedisReply> RedisConnection::send(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  RedisReply reply(static_cast<redisReply*>(
      redisCommandArgv(context_.get(), static_cast<int>(args.size()), argv.data(), lengths.data())));
  if (!reply) {
    // The context is unusable after an I/O error or a timeout; the next command reconnects.
    const std::string reason = context_->err ? context_->errstr : "no reply";
    const std::string tls = relay_ ? relay_->ended() : "";
    context_.reset();
    // A TLS alert (the server refused this client's certificate) is no outage to wait out.
    if (tls.rfind("TLS error", 0) == 0) return FailedPrecondition(url_.describe() + ": " + args[0] + " failed: " + tls);
    return Unavailable(url_.describe() + ": " + args[0] + " failed: " + reason + (tls.empty() ? "" : " (" + tls + ")"));
  }
  return reply;
}

Status RedisConnection::error_status(const std::string& command, const std::string& error) const {
  const std::string message = url_.describe() + ": " + command + ": " + error;
  if (starts_with(error, "NOAUTH") || starts_with(error, "WRONGPASS") || (command == "AUTH" && starts_with(error, "ERR"))) {
    return FailedPrecondition(message + " (check the password in the job store URL or REDISCLI_AUTH)");
  }
  // A server loading its data after a restart, or a replica cut off from its master, comes back.
  if (starts_with(error, "LOADING") || starts_with(error, "BUSY") || starts_with(error, "MASTERDOWN") ||
      starts_with(error, "TRYAGAIN") || starts_with(error, "CLUSTERDOWN")) {
    return Unavailable(message);
  }
  return Internal(message);
}

StatusOr<RedisReply> RedisConnection::command(const std::vector<std::string>& args) {
  if (!context_) RETURN_IF_ERROR(connect());
  ASSIGN_OR_RETURN(RedisReply reply, send(args));
  if (reply->type == REDIS_REPLY_ERROR) return error_status(args[0], std::string(reply->str, reply->len));
  return reply;
}

StatusOr<RedisReply> RedisConnection::eval(const std::string& script, const std::vector<std::string>& keys,
                                           const std::vector<std::string>& args) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto known = script_sha_.find(script);
    if (known == script_sha_.end()) {
      ASSIGN_OR_RETURN(const RedisReply loaded, command({"SCRIPT", "LOAD", script}));
      known = script_sha_.emplace(script, std::string(loaded->str, loaded->len)).first;
    }
    std::vector<std::string> call = {"EVALSHA", known->second, std::to_string(keys.size())};
    call.insert(call.end(), keys.begin(), keys.end());
    call.insert(call.end(), args.begin(), args.end());
    if (!context_) RETURN_IF_ERROR(connect());
    ASSIGN_OR_RETURN(RedisReply reply, send(call));
    if (reply->type != REDIS_REPLY_ERROR) return reply;
    const std::string error(reply->str, reply->len);
    if (!starts_with(error, "NOSCRIPT")) return error_status("EVALSHA", error);
    script_sha_.erase(known);  // the server forgot it (restarted or SCRIPT FLUSH): load it again
  }
  return Internal(url_.describe() + ": the server forgets a script right after loading it");
}

}  // namespace evosearch
