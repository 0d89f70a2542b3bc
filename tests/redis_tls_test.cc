// The Redis job store over TLS (rediss://) against a private redis-server with TLS only (no plain
// port) and a throwaway CA made with the openssl command: a job runs through it with a client
// certificate; a server certificate from another CA, or for another host, and a missing client
// certificate are refused at once (not retried as an outage); a restarted server is reconnected.
// Label redis.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include "child_process.h"
#include "distributed_jobs.h"
#include "jobs/job_store.h"
#include "redis_test_server.h"
#include "skip_or_fail.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;
using testing_support::read_text;
using testing_support::run_shell;

// A CA, a server certificate for 127.0.0.1 (and `server_name`, when given) and a client
// certificate it signed, and another CA, in `dir`.
bool make_certificates(const std::string& dir, std::string& output) {
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const auto result = run_shell(
      "(cd " + dir + " && set -e"
      " && openssl req -x509 " + key + " -keyout ca.key -out ca.pem -days 2 -subj /CN=evosearch-test-ca"
      " && openssl req -x509 " + key + " -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=other-ca"
      " && openssl req " + key + " -keyout server.key -out server.csr -subj /CN=evosearch-test-server"
      " && printf 'subjectAltName=IP:127.0.0.1\\n' > server.ext"
      " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2"
      "    -extfile server.ext"
      " && openssl req " + key + " -keyout client.key -out client.csr -subj /CN=evosearch-test-client"
      " && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2)");
  output = result.output;
  return result.code == 0;
}

class RedisTls : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = testing_support::fresh_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    certs_ = base_ + "/certs";
    fs::create_directories(certs_);
    std::string output;
    if (!make_certificates(certs_, output)) EVOSEARCH_SKIP_UNLESS_CI("openssl", "cannot make certificates: " << output);
    fs::create_directories(base_ + "/redis");
    port_ = testing_support::free_port();
    server_ = std::make_unique<testing_support::TestRedisServer>(
        base_ + "/redis", port_, "tls-test-password",
        testing_support::TestRedisTls{certs_ + "/server.pem", certs_ + "/server.key", certs_ + "/ca.pem",
                                      certs_ + "/client.pem", certs_ + "/client.key"});
    std::string error;
    if (!server_->start(error)) {
      EVOSEARCH_SKIP_UNLESS_CI("redis-server with TLS", "cannot start one: " << error << "\n"
                                                                               << read_text(base_ + "/redis/redis.log"));
    }
    url_ = server_->url("tls-test-password");
  }

  // The store's first call through `url`.
  Status first_call(const std::string& url) {
    auto store = open_job_store(url, "", "tls-probe");
    if (!store.ok()) return store.status();
    return (*store)->outputs().status();
  }

  std::string base_, certs_, url_;
  int port_ = 0;
  std::unique_ptr<testing_support::TestRedisServer> server_;
};

TEST_F(RedisTls, AJobRunsThroughTlsWithAClientCertificate) {
  const std::string spec = testing_support::make_job(
      base_ + "/job", R"({"method": "evosearch", "evolution_steps": [0, 4, 8], "population": [5, 3, 3, 3]})");
  ::setenv("EVOSEARCH_JOB_STORE", url_.c_str(), 1);
  const auto run = testing_support::run_evosearch("run " + spec + " --threads 1");
  const auto status = testing_support::run_evosearch("status --json --job job");  // the spec's file name
  ::unsetenv("EVOSEARCH_JOB_STORE");
  ASSERT_EQ(run.code, 0) << run.output;
  EXPECT_NE(run.output.find("rediss://127.0.0.1:"), std::string::npos) << "the log names the store\n" << run.output;
  EXPECT_EQ(testing_support::results_of(spec).prompts_size(), 6);
  EXPECT_NE(status.output.find("\"done\": 6"), std::string::npos) << status.output;
  // Only TLS reaches the server: it has no plain port.
  EXPECT_FALSE(first_call("redis://:tls-test-password@127.0.0.1:" + std::to_string(port_) + "/0").ok());
}

TEST_F(RedisTls, AServerCertificateFromAnotherCaIsRefusedAtOnce) {
  const std::string other = testing_support::replaced(url_, "ca.pem", "other-ca.pem");
  const Status s = first_call(other);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.to_string();
  EXPECT_NE(s.message().find("certificate is refused"), std::string::npos) << s.to_string();
  EXPECT_EQ(s.message().find("tls-test-password"), std::string::npos) << s.to_string();
}

TEST_F(RedisTls, ACertificateForAnotherHostIsRefused) {
  // The server's certificate names 127.0.0.1 only; the server also listens on 127.0.0.2. (Not
  // "localhost": a fresh Debian root may have no /etc/hosts to resolve it.)
  const Status s = first_call(testing_support::replaced(url_, "127.0.0.1", "127.0.0.2"));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.to_string();
  EXPECT_NE(s.message().find("mismatch"), std::string::npos) << s.to_string();
}

TEST_F(RedisTls, WithoutTheClientCertificateTheServerAsksForTheStoreSaysSoAtOnce) {
  const std::string without = url_.substr(0, url_.find("&cert="));
  const Status s = first_call(without);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.to_string();
  EXPECT_NE(s.message().find("asks for a client certificate"), std::string::npos) << s.to_string();
}

TEST_F(RedisTls, LargeCommandsAndRepliesPassIntact) {
  // Larger than the socket buffers and the relay's 16 KB reads: partial TLS writes and reads.
  std::string value(12 << 20, '\0');
  uint32_t x = 12345;
  for (char& c : value) c = static_cast<char>((x = x * 1664525u + 1013904223u) >> 24);
  auto url = parse_redis_url(url_);
  ASSERT_TRUE(url.ok()) << url.status().to_string();
  RedisConnection connection(*url);
  ASSERT_TRUE(connection.command({"SET", "tls-large", value}).ok());
  for (int i = 0; i < 3; ++i) {
    auto reply = connection.command({"GET", "tls-large"});
    ASSERT_TRUE(reply.ok()) << reply.status().to_string();
    ASSERT_EQ(std::string((*reply)->str, (*reply)->len), value) << "read " << i;
  }
}

TEST_F(RedisTls, ARestartedServerIsReconnected) {
  auto store = open_job_store(url_, "", "tls-restart");
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  ASSERT_TRUE((*store)->outputs().ok());
  server_->stop();
  const Status gone = (*store)->outputs().status();
  EXPECT_EQ(gone.code(), StatusCode::kUnavailable) << gone.to_string();
  std::string error;
  ASSERT_TRUE(server_->start(error)) << error;
  // The connection that broke reports it once; the next call connects again.
  Status back = (*store)->outputs().status();
  if (!back.ok()) back = (*store)->outputs().status();
  EXPECT_TRUE(back.ok()) << back.to_string();
}

}  // namespace
}  // namespace evosearch
