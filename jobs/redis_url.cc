#include "jobs/redis_url.h"

#include <algorithm>
#include <cstdlib>

namespace evosearch {
namespace {

bool all_digits(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

StatusOr<std::string> percent_decode(const std::string& s, const char* part) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0) {
      return InvalidArgument(std::string("job store URL: the ") + part + " has a '%' not followed by two hex digits");
    }
    out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
    i += 2;
  }
  return out;
}

// The query of a rediss:// URL: ca, cert and key, each at most once.
Status parse_tls_query(const std::string& query, RedisUrl& out) {
  size_t start = 0;
  while (start <= query.size()) {
    const size_t end = std::min(query.find('&', start), query.size());
    const std::string pair = query.substr(start, end - start);
    const size_t eq = pair.find('=');
    const std::string name = pair.substr(0, eq);
    std::string* field = name == "ca"     ? &out.tls_ca
                         : name == "cert" ? &out.tls_cert
                         : name == "key"  ? &out.tls_key
                                          : nullptr;
    if (!field) return InvalidArgument("job store URL: query parameter '" + name + "' is not one of ca, cert, key");
    if (eq == std::string::npos || eq + 1 == pair.size()) {
      return InvalidArgument("job store URL: " + name + "= needs a file");
    }
    if (!field->empty()) return InvalidArgument("job store URL: " + name + "= is given twice");
    ASSIGN_OR_RETURN(*field, percent_decode(pair.substr(eq + 1), name.c_str()));
    start = end + 1;
  }
  if (out.tls_cert.empty() != out.tls_key.empty()) {
    return InvalidArgument("job store URL: cert= and key= come together (this client's certificate and its key)");
  }
  return Status::Ok();
}

}  // namespace

std::string RedisUrl::describe() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return std::string(tls ? "rediss://" : "redis://") + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port) +
         "/" + std::to_string(db);
}

std::string redact_job_store_url(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  // As parse_redis_url reads it: the userinfo ends at the last '@'.
  const size_t start = scheme_end + 3;
  const size_t at = url.rfind('@');
  if (at == std::string::npos || at < start) return url;
  const size_t colon = url.find(':', start);
  if (colon == std::string::npos || colon > at || colon + 1 == at) return url;  // no password
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

StatusOr<RedisUrl> parse_redis_url(const std::string& url) {
  const size_t scheme_end = url.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
  if (scheme != "redis" && scheme != "rediss") {
    return InvalidArgument("job store URL: scheme '" + scheme + "' is not supported; expected "
                           "redis://[:password@]host[:port][/db], rediss://... (TLS) or \"file\"");
  }
  RedisUrl out;
  out.tls = scheme == "rediss";
  std::string rest = url.substr(scheme_end + 3);
  // The last '@': a password may hold '@' or '/', a host or db never does.
  const size_t at = rest.rfind('@');
  // The query starts at the first '?' after the credentials.
  const size_t query = rest.find('?', at == std::string::npos ? 0 : at + 1);
  if (rest.find('#', at == std::string::npos ? 0 : at + 1) != std::string::npos) {
    return InvalidArgument("job store URL: a fragment ('#') is not supported");
  }
  if (query != std::string::npos) {
    if (!out.tls) {
      return InvalidArgument("job store URL: query parameters (ca, cert, key) are for rediss:// (TLS) only; "
                             "expected redis://[:password@]host[:port][/db]");
    }
    RETURN_IF_ERROR(parse_tls_query(rest.substr(query + 1), out));
    rest = rest.substr(0, query);
  }
  if (at != std::string::npos) {
    const std::string userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const size_t colon = userinfo.find(':');
    ASSIGN_OR_RETURN(out.user, percent_decode(userinfo.substr(0, colon), "user"));
    if (colon != std::string::npos) {
      ASSIGN_OR_RETURN(out.password, percent_decode(userinfo.substr(colon + 1), "password"));
    }
  }
  if (out.password.empty()) {
    if (const char* auth = std::getenv("REDISCLI_AUTH")) out.password = auth;
  }
  const size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  if (slash != std::string::npos) {
    const std::string db = rest.substr(slash + 1);
    if (!db.empty() && (!all_digits(db) || db.size() > 5)) {
      return InvalidArgument("job store URL: db '" + db + "' is not a database number; expected /0, /1, ...");
    }
    out.db = db.empty() ? 0 : std::atoi(db.c_str());
  }
  std::string port;
  if (!hostport.empty() && hostport[0] == '[') {  // an IPv6 literal: [::1]:6379
    const size_t close = hostport.find(']');
    if (close == std::string::npos) return InvalidArgument("job store URL: host '" + hostport + "' lacks the closing ']'");
    out.host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size()) {
      if (hostport[close + 1] != ':') return InvalidArgument("job store URL: expected ':port' after host [" + out.host + "]");
      port = hostport.substr(close + 2);
      if (port.empty()) return InvalidArgument("job store URL: port is empty after ':'");
    }
  } else {
    const size_t colon = hostport.find(':');
    out.host = hostport.substr(0, colon);
    if (colon != std::string::npos) {
      port = hostport.substr(colon + 1);
      if (port.empty()) return InvalidArgument("job store URL: port is empty after ':'");
    }
  }
  if (out.host.empty()) return InvalidArgument("job store URL: host is missing; expected redis://host[:port][/db]");
  if (!port.empty()) {
    const int value = all_digits(port) && port.size() <= 5 ? std::atoi(port.c_str()) : 0;
    if (value < 1 || value > 65535) return InvalidArgument("job store URL: port '" + port + "' is not a number in 1..65535");
    out.port = value;
  }
  return out;
}

}  // namespace evosearch
