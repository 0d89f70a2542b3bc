// Where a Redis job store is: parsed from `redis://[[user]:password@]host[:port][/db]`, or with
// TLS `rediss://...[/db][?ca=PATH&cert=PATH&key=PATH]`.
#pragma once

#include <string>

#include "common/status.h"

namespace evosearch {

struct RedisUrl {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string user;      // a Redis 6 ACL user; empty: the default user
  std::string password;  // from the URL, else REDISCLI_AUTH; empty: no AUTH. Never printed.
  // rediss://: TLS, the server's certificate checked against `tls_ca` (PEM; empty: the system's
  // CAs) and the host; `tls_cert` and `tls_key` (PEM, both or neither): this client's certificate.
  bool tls = false;
  std::string tls_ca, tls_cert, tls_key;

  // "redis://host:port/db" (or rediss://), without credentials: for messages and logs.
  std::string describe() const;
};

// Parses a job store URL. User, password and query values may be percent-encoded (a '?' in a
// password must be, as must an '@' in a query value); without a password in the URL,
// REDISCLI_AUTH (as redis-cli reads it) supplies one. InvalidArgument names the malformed part
// (scheme, host, port, db, query parameter) and never repeats the credentials.
StatusOr<RedisUrl> parse_redis_url(const std::string& url);

// `url` as it may be recorded (results.json, logs): a password in it replaced by "***"
// ("redis://user:***@host:6379/0"); anything without one ("file", a folder) unchanged.
std::string redact_job_store_url(const std::string& url);

}  // namespace evosearch
