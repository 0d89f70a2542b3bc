// What decides a job's answers (jobs/job_identity.h), the SHA-256 behind it (common/checksum.h),
// and job store URLs (jobs/redis_url.h, open_job_store).
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/checksum.h"
#include "common/keyed_rng.h"
#include "jobs/job_identity.h"
#include "jobs/job_store.h"
#include "jobs/redis_url.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

fs::path test_root() { return fs::temp_directory_path() / ("evosearch-identity-" + std::to_string(::getpid())); }

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = test_root() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Every test's folder is under one root, removed after the last test.
class RemoveTestRoot : public testing::Environment {
  void TearDown() override { fs::remove_all(test_root()); }
};
[[maybe_unused]] testing::Environment* const kRemoveTestRoot = testing::AddGlobalTestEnvironment(new RemoveTestRoot);

TEST(Checksum, Sha256KnownAnswers) {
  // FIPS 180-2 examples.
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Checksum, FilesStreamToTheSameDigest) {
  const fs::path dir = fresh_dir("checksum");
  std::string bytes;
  for (int i = 0; i < 200000; ++i) bytes += static_cast<char>(i * 7);  // several read blocks
  std::ofstream(dir / "f", std::ios::binary) << bytes;
  auto digest = sha256_file_hex((dir / "f").string());
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(*digest, sha256_hex(bytes));
  const auto missing = sha256_file_hex((dir / "missing").string());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find((dir / "missing").string()), std::string::npos);
}

proto::JobSpec spec_in(const fs::path& dir) {
  fs::create_directories(dir / "bundle" / "modules");
  std::ofstream(dir / "suite.txt") << "a bag\na coat\n";
  std::ofstream(dir / "bundle" / "manifest.json") << "{}";
  std::ofstream(dir / "bundle" / "modules" / "denoiser.pt") << "weights";
  proto::JobSpec spec;
  spec.set_name("job");
  spec.set_bundle((dir / "bundle").string());
  spec.set_prompts((dir / "suite.txt").string());
  spec.set_output((dir / "out").string());
  spec.set_seed(3);
  spec.mutable_sampler()->set_steps(30);
  spec.mutable_search()->set_method("evosearch");
  for (int k : {4, 3, 3}) spec.mutable_search()->add_population(k);
  spec.set_batch_size(32);
  spec.set_prompts_in_flight(8);
  spec.set_device("cuda:1");
  spec.set_generation_grids(true);
  return spec;
}

TEST(JobIdentity, AnswerSpecKeepsOnlyWhatDecidesAnswers) {
  const proto::JobSpec a = answer_spec(spec_in(fresh_dir("answer-a")));
  proto::JobSpec other = spec_in(fresh_dir("answer-b"));  // other paths
  other.set_batch_size(4);
  other.set_prompts_in_flight(1);
  other.set_device("cpu");
  other.set_generation_grids(false);
  other.set_max_attempts(7);  // which prompts give up, not what any answers
  other.set_name("renamed");
  EXPECT_EQ(a.SerializeAsString(), answer_spec(other).SerializeAsString());
  EXPECT_EQ(a.seed(), 3u);
  EXPECT_EQ(a.sampler().steps(), 30);
  EXPECT_EQ(a.search().population_size(), 3);
  EXPECT_TRUE(a.bundle().empty() && a.device().empty() && a.batch_size() == 0);
}

TEST(JobIdentity, InputDigestsCoverThePromptsAndEveryBundleFile) {
  const fs::path dir = fresh_dir("digests");
  const proto::JobSpec spec = spec_in(dir);
  auto digests = input_digests(spec);
  ASSERT_TRUE(digests.ok()) << digests.status().to_string();
  EXPECT_EQ(digests->size(), 3u);
  EXPECT_EQ(digests->at("prompts"), sha256_hex("a bag\na coat\n"));
  EXPECT_EQ(digests->at("bundle/manifest.json"), sha256_hex("{}"));
  EXPECT_EQ(digests->at("bundle/modules/denoiser.pt"), sha256_hex("weights"));

  proto::JobSpec missing = spec;
  missing.set_bundle((dir / "nowhere").string());
  const Status s = input_digests(missing).status();
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find((dir / "nowhere").string()), std::string::npos);
}

TEST(JobIdentity, DifferencesNameFieldsAndFiles) {
  const fs::path dir = fresh_dir("differences");
  const proto::JobSpec spec = spec_in(dir);
  auto before = make_job_record(spec, 2);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(job_differences(*before, *before), "");

  proto::JobSpec changed = spec;
  changed.set_seed(4);
  changed.mutable_search()->set_population(0, 6);
  changed.mutable_sampler()->set_eta(1.0);
  changed.set_batch_size(1);  // not a difference
  std::ofstream(dir / "bundle" / "modules" / "denoiser.pt") << "other weights";
  std::ofstream(dir / "bundle" / "modules" / "extra.pt") << "x";
  fs::remove(dir / "bundle" / "manifest.json");
  auto after = make_job_record(changed, 3);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(job_differences(*before, *after),
            "spec.seed: 3 -> 4\n"
            "spec.sampler.eta: unset -> 1\n"
            "spec.search.population[0]: 4 -> 6\n"
            "input file bundle/manifest.json removed\n"
            "input file bundle/modules/denoiser.pt changed\n"
            "input file bundle/modules/extra.pt added\n"
            "prompt count: 2 -> 3");
}

// A job created by a build that drew its noise with another formula is a different job: its
// checkpoints would be continued with other noise. Records from before the field read as 0,
// which is formula 1.
TEST(JobIdentity, AnotherNoiseFormulaIsADifference) {
  const fs::path dir = fresh_dir("noise-formula");
  auto current = make_job_record(spec_in(dir), 2);
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(current->noise_formula(), kNoiseFormula);
  proto::JobRecord older = *current;
  older.clear_noise_formula();
  EXPECT_EQ(job_differences(older, *current),
            "noise formula: 1 -> " + std::to_string(kNoiseFormula) +
                " (its checkpoints were drawn by another evosearch version; finish the job with that one)");
  older.set_noise_formula(kNoiseFormula);
  EXPECT_EQ(job_differences(older, *current), "");
}

TEST(RedisUrl, ParsesEveryPart) {
  ::unsetenv("REDISCLI_AUTH");
  auto plain = parse_redis_url("redis://cache.example");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->host, "cache.example");
  EXPECT_EQ(plain->port, 6379);
  EXPECT_EQ(plain->db, 0);
  EXPECT_EQ(plain->password, "");

  auto full = parse_redis_url("redis://ops:p%40ss%2Fw@10.0.0.5:6391/3");
  ASSERT_TRUE(full.ok()) << full.status().to_string();
  EXPECT_EQ(full->user, "ops");
  EXPECT_EQ(full->password, "p@ss/w");
  EXPECT_EQ(full->host, "10.0.0.5");
  EXPECT_EQ(full->port, 6391);
  EXPECT_EQ(full->db, 3);
  EXPECT_EQ(full->describe(), "redis://10.0.0.5:6391/3");

  auto v6 = parse_redis_url("redis://:pw@[::1]:7000/");
  ASSERT_TRUE(v6.ok()) << v6.status().to_string();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 7000);
  EXPECT_EQ(v6->password, "pw");
  EXPECT_EQ(v6->describe(), "redis://[::1]:7000/0");

  auto tls = parse_redis_url("rediss://:p?w@h:7000/2?ca=%2Ftmp%2Fca.pem&cert=/c.pem&key=/k.pem");
  ASSERT_TRUE(tls.ok()) << tls.status().to_string();
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(tls->password, "p?w");  // the query starts after the credentials
  EXPECT_EQ(tls->tls_ca, "/tmp/ca.pem");
  EXPECT_EQ(tls->tls_cert, "/c.pem");
  EXPECT_EQ(tls->tls_key, "/k.pem");
  EXPECT_EQ(tls->db, 2);
  EXPECT_EQ(tls->describe(), "rediss://h:7000/2");
  EXPECT_FALSE(parse_redis_url("redis://h")->tls);

  ::setenv("REDISCLI_AUTH", "from-env", 1);
  EXPECT_EQ(parse_redis_url("redis://h")->password, "from-env");
  EXPECT_EQ(parse_redis_url("redis://:in-url@h")->password, "in-url");
  ::unsetenv("REDISCLI_AUTH");
}

TEST(RedisUrl, ErrorsNameTheBadPartAndNeverThePassword) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"http://:secret1@host", "scheme 'http'"},  {"redis://:secret1@host:http", "port 'http'"},
      {"redis://:secret1@host:70000", "port '70000'"}, {"redis://:secret1@host:", "port is empty"},
      {"redis://:secret1@host/zero", "db 'zero'"},   {"redis://:secret1@/0", "host is missing"},
      {"redis://:secret1@host?timeout=1", "query"},  {"redis://:secret%zz@host", "password"},
      {"rediss://:secret1@host?timeout=1", "'timeout'"}, {"rediss://:secret1@host?cert=/c", "cert= and key="},
      {"rediss://:secret1@host?ca=", "ca= needs"},    {"rediss://:secret1@host?ca=a&ca=b", "twice"},
      {"redis://:secret1@host#x", "fragment"},
  };
  for (const auto& [url, part] : cases) {
    const Status s = parse_redis_url(url).status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << url;
    EXPECT_NE(s.message().find(part), std::string::npos) << url << ": " << s.message();
    EXPECT_EQ(s.message().find("secret"), std::string::npos) << url << ": " << s.message();
  }
}

TEST(RedisUrl, RedactedFormKeepsEverythingButThePassword) {
  EXPECT_EQ(redact_job_store_url("redis://:hunter2@h:6391/0"), "redis://:***@h:6391/0");
  EXPECT_EQ(redact_job_store_url("redis://ops:p@ss:w/x@10.0.0.5/3"), "redis://ops:***@10.0.0.5/3");
  EXPECT_EQ(redact_job_store_url("redis://ops@h/0"), "redis://ops@h/0");
  EXPECT_EQ(redact_job_store_url("redis://h:6391/0"), "redis://h:6391/0");
  EXPECT_EQ(redact_job_store_url("file"), "file");
  EXPECT_EQ(redact_job_store_url(""), "");
}

TEST(OpenJobStore, FileByDefaultAndUrlErrorsFirst) {
  const fs::path dir = fresh_dir("open");
  for (const char* url : {"", "file"}) {
    auto store = open_job_store(url, dir.string(), "job");
    ASSERT_TRUE(store.ok()) << url;
    EXPECT_EQ((*store)->describe(), (dir / "state").string());
  }
  EXPECT_EQ(open_job_store("ftp://x", dir.string(), "job").status().code(), StatusCode::kInvalidArgument);
  auto redis = open_job_store("redis://127.0.0.1:6391/0", dir.string(), "job");
#ifdef EVOSEARCH_WITH_REDIS
  EXPECT_TRUE(redis.ok()) << redis.status().to_string();  // connects lazily
  EXPECT_EQ(open_job_store("redis://127.0.0.1", dir.string(), "bad{tag}").status().code(), StatusCode::kInvalidArgument);
#else
  EXPECT_EQ(redis.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(redis.status().message().find("hiredis"), std::string::npos) << redis.status().message();
#endif
}

}  // namespace
}  // namespace evosearch
