// The job store contract (jobs/job_store.h): one parameterized suite, built twice and
// instantiated once in each executable, so each gets its ctest label. job_store_file_test runs
// it on the file store (label unit); job_store_redis_test (EVOSEARCH_CONTRACT_REDIS) on the Redis
// store at EVOSEARCH_TEST_REDIS (default redis://127.0.0.1:6391/0, started by
// cluster/redis-local.sh; label redis), plus what only Redis has: credentials, an unreachable
// server, and a server restarted under a running job (tests/redis_test_server.h).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "dropped_reply_store.h"
#include "jobs/job_store.h"
#include "jobs/retrying_job_store.h"
#ifdef EVOSEARCH_CONTRACT_REDIS
#include <hiredis/hiredis.h>

#include "jobs/redis_connection.h"
#include "jobs/redis_job_store.h"
#include "redis_test_server.h"
#include "skip_or_fail.h"
#endif

namespace evosearch {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::MessageDifferencer;

// A lease that must hold holds for kLongLease, so no step of a test is timed. A lease that must
// run out is given kShortLease (or renewed to it) after the steps it must outlast, and the test
// then lets it expire (JobStoreContract::let_short_leases_expire). The writes a short lease makes
// after its expiry succeed (fencing checks owner and token, not the clock) as long as no other
// owner claimed the prompt, which no test does before letting short leases expire.
constexpr double kLongLease = 600;
#ifdef EVOSEARCH_CONTRACT_REDIS
// The Redis store decides expiry by the server's clock, which the test cannot move: the shortest
// lease (1 ms), waited out in real time.
constexpr double kShortLease = 0.001;
constexpr auto kPastShortLease = std::chrono::milliseconds(10);
#else
// The file store reads the test's clock: a lease that real time would not run out during the
// test, run out by advancing that clock.
constexpr double kShortLease = 60;
constexpr auto kPastShortLease = std::chrono::milliseconds(60001);
#endif

#ifdef EVOSEARCH_CONTRACT_REDIS
std::string test_redis_url() {
  const char* url = std::getenv("EVOSEARCH_TEST_REDIS");
  return url && *url ? url : "redis://127.0.0.1:6391/0";
}
#endif

proto::JobRecord record(uint64_t seed = 7) {
  proto::JobRecord r;
  r.set_name("contract");
  r.mutable_spec()->set_seed(seed);
  r.mutable_spec()->mutable_search()->set_method("evosearch");
  for (int k : {4, 3, 3}) r.mutable_spec()->mutable_search()->add_population(k);
  for (int s : {0, 10}) r.mutable_spec()->mutable_search()->add_evolution_steps(s);
  (*r.mutable_input_digests())["prompts"] = std::string(64, 'a');
  (*r.mutable_input_digests())["bundle/manifest.json"] = std::string(64, 'b');
  (*r.mutable_input_digests())["bundle/denoiser.pt"] = std::string(64, 'c');
  return r;
}

std::vector<std::string> texts(int n) {
  std::vector<std::string> t;
  for (int i = 0; i < n; ++i) t.push_back("prompt " + std::to_string(i));
  return t;
}

proto::CheckpointRecord checkpoint(uint32_t prompt, uint32_t generation, double best) {
  proto::CheckpointRecord c;
  c.set_prompt(prompt);
  c.set_generation(generation);
  c.set_generation_count(5);
  c.mutable_snapshot()->set_method("evosearch");
  c.mutable_snapshot()->set_generation(generation);
  c.mutable_snapshot()->mutable_best()->set_found(true);
  c.mutable_snapshot()->mutable_best()->set_fitness(best);
  proto::ShardRef* shard = c.add_shards();
  shard->set_path("state/shards/x.shard");
  shard->set_sha256(std::string(64, 'd'));
  shard->set_bytes(123);
  return c;
}

proto::PromptOutcome outcome(uint32_t prompt) {
  proto::PromptOutcome o;
  o.set_index(prompt);
  o.set_prompt("prompt " + std::to_string(prompt));
  o.set_nfe(90);
  (*o.mutable_scores())["reward"] = 0.5 + prompt;
  o.set_image("images/" + std::to_string(prompt) + ".png");
  return o;
}

// Every folder of a test (stores, private servers) is under one root, removed after the last test.
fs::path test_root() { return fs::temp_directory_path() / ("evosearch-store-test-" + std::to_string(::getpid())); }

class RemoveTestRoot : public testing::Environment {
  void TearDown() override { fs::remove_all(test_root()); }
};
[[maybe_unused]] testing::Environment* const kRemoveTestRoot = testing::AddGlobalTestEnvironment(new RemoveTestRoot);

std::string owner(int n) { return "host:" + std::to_string(::getpid()) + ":owner" + std::to_string(n); }

class JobStoreContract : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string test = testing::UnitTest::GetInstance()->current_test_info()->name();
    test = test.substr(0, test.find('/'));  // without the "/file" or "/redis" of the instantiation
    job_name_ = "contract-" + test + "-" + std::to_string(::getpid());
    dir_ = (test_root() / test).string();
    clock_ms_ = system_ms();
    fs::remove_all(dir_);
#ifdef EVOSEARCH_CONTRACT_REDIS
    url_ = test_redis_url();
    auto probe = make();
    if (auto ping = probe->outputs(); !ping.ok()) {
      EVOSEARCH_SKIP_UNLESS_CI("Redis", "nothing answers at " << url_ << " (" << ping.status().to_string()
                                            << "); start one with `bash cluster/redis-local.sh` or set EVOSEARCH_TEST_REDIS");
    }
    wipe();
#endif
    store_ = make();
  }

  void TearDown() override {
#ifdef EVOSEARCH_CONTRACT_REDIS
    if (store_) wipe();  // not when SetUp found no Redis
#endif
    fs::remove_all(dir_);
  }

  // A new store object on the same job, as another coordinator would open it, reading the
  // test's clock.
  std::unique_ptr<JobStore> make() {
    auto store = open_job_store(url_, dir_, job_name_, [this] { return clock_ms_.load(); });
    EXPECT_TRUE(store.ok()) << store.status().to_string();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // Overwrites a record with bytes that parse as no record: the job record, or prompt 0's
  // checkpoint or record.
  void corrupt(const std::string& what) {
#ifdef EVOSEARCH_CONTRACT_REDIS
    const auto keys = redis_job_keys(job_name_);
    const std::vector<std::string> args = what == "job"          ? std::vector<std::string>{"HSET", keys.job, "record", "\xff\xff"}
                                          : what == "checkpoint" ? std::vector<std::string>{"HSET", keys.checkpoints, "0", "\xff\xff"}
                                                                 : std::vector<std::string>{"HSET", keys.prompts, "0:token", "x7"};
    ASSERT_TRUE(redis().command(args).ok());
#else
    const std::string file = what == "job" ? "job.json" : what == "checkpoint" ? "prompt-00000.ckpt" : "prompt-00000.json";
    std::ofstream(fs::path(dir_) / "state" / file, std::ios::trunc) << (what == "checkpoint" ? "\xff\xff" : "{\"token\": ");
#endif
  }

  // Changes a stored checkpoint or outcome of `prompt` as an edit in place would: the envelope and
  // the record still parse, only a number differs from what was written.
  void tamper(const std::string& what, uint32_t prompt) {
#ifdef EVOSEARCH_CONTRACT_REDIS
    const auto keys = redis_job_keys(job_name_);
    const std::string& key = what == "checkpoint" ? keys.checkpoints : keys.outcomes;
    auto raw = redis().command({"HGET", key, std::to_string(prompt)});
    ASSERT_TRUE(raw.ok());
    const std::string bytes((*raw)->str, (*raw)->len);
#else
    char name[32];
    std::snprintf(name, sizeof name, "prompt-%05u%s", prompt, what == "checkpoint" ? ".ckpt" : ".done");
    const fs::path file = fs::path(dir_) / "state" / name;
    auto read = read_file(file.string());
    ASSERT_TRUE(read.ok());
    const std::string bytes = *read;
#endif
    proto::SealedRecord sealed;
    ASSERT_TRUE(sealed.ParseFromString(bytes));
    if (what == "checkpoint") {
      proto::CheckpointRecord c;
      ASSERT_TRUE(c.ParseFromString(sealed.payload()));
      c.mutable_snapshot()->mutable_best()->set_fitness(c.snapshot().best().fitness() * 2);
      sealed.set_payload(c.SerializeAsString());
    } else {
      proto::PromptOutcome o;
      ASSERT_TRUE(o.ParseFromString(sealed.payload()));
      o.set_candidate(o.candidate() + 1);
      sealed.set_payload(o.SerializeAsString());
    }
#ifdef EVOSEARCH_CONTRACT_REDIS
    ASSERT_TRUE(redis().command({"HSET", key, std::to_string(prompt), sealed.SerializeAsString()}).ok());
#else
    std::ofstream(file, std::ios::trunc | std::ios::binary) << sealed.SerializeAsString();
#endif
  }

#ifdef EVOSEARCH_CONTRACT_REDIS
  RedisConnection& redis() {
    if (!redis_) redis_ = std::make_unique<RedisConnection>(*parse_redis_url(url_));
    return *redis_;
  }
  void wipe() {
    std::vector<std::string> args = {"DEL"};
    for (const std::string& key : redis_job_keys(job_name_).all()) args.push_back(key);
    EXPECT_TRUE(redis().command(args).ok());
  }
  std::unique_ptr<RedisConnection> redis_;
#endif

  static int64_t system_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // The time leases are measured against: the test's clock for the file store, the server's
  // clock (close enough to this machine's) for the Redis store.
  int64_t now_ms() const {
#ifdef EVOSEARCH_CONTRACT_REDIS
    return system_ms();
#else
    return clock_ms_.load();
#endif
  }

  // Lets every lease given kShortLease so far run out. The file store decides expiry by the
  // clock it reads, the test's, which this advances: no time passes. The Redis store decides it
  // inside its scripts by the server's TIME (so that coordinators' clocks do not matter), which
  // no client can move: this waits, in real time, the few milliseconds its 1 ms lease needs.
  void let_short_leases_expire() {
#ifdef EVOSEARCH_CONTRACT_REDIS
    std::this_thread::sleep_for(kPastShortLease);
#else
    clock_ms_ += kPastShortLease.count();
#endif
  }

  // How many lines of the job's event log end with `text`.
  int event_lines(const std::string& text) {
#ifdef EVOSEARCH_CONTRACT_REDIS
    auto lines = redis().command({"LRANGE", redis_job_keys(job_name_).events, "0", "-1"});
    EXPECT_TRUE(lines.ok());
    std::vector<std::string> all;
    for (size_t i = 0; lines.ok() && i < (*lines)->elements; ++i) all.emplace_back((*lines)->element[i]->str, (*lines)->element[i]->len);
#else
    auto read = read_file((fs::path(dir_) / "state" / "events.log").string());
    std::vector<std::string> all;
    std::string line;
    for (std::istringstream in(read.ok() ? *read : ""); std::getline(in, line);) all.push_back(line);
#endif
    int n = 0;
    for (const std::string& l : all) n += l.size() >= text.size() && l.compare(l.size() - text.size(), text.size(), text) == 0;
    return n;
  }

  proto::PromptRecord prompt(uint32_t i) {
    auto all = store_->prompts();
    EXPECT_TRUE(all.ok()) << all.status().to_string();
    return all.ok() && i < all->size() ? (*all)[i] : proto::PromptRecord();
  }

  std::string url_;  // "" for the file store
  std::atomic<int64_t> clock_ms_{0};  // the test's clock (unix ms): what make()'s stores read
  std::string job_name_;
  std::string dir_;
  std::unique_ptr<JobStore> store_;
};

#define EXPECT_OK(expr)                                  \
  do {                                                   \
    const ::evosearch::Status _s = (expr);               \
    EXPECT_TRUE(_s.ok()) << #expr << ": " << _s.to_string(); \
  } while (0)

#define EXPECT_LEASE_LOST(expr)                                                      \
  do {                                                                               \
    const ::evosearch::Status _s = (expr);                                           \
    EXPECT_EQ(_s.code(), StatusCode::kFailedPrecondition) << #expr << ": " << _s.to_string(); \
    EXPECT_NE(_s.message().find("lease lost"), std::string::npos) << _s.message();   \
  } while (0)

TEST_P(JobStoreContract, CreatesTheJobAndBindsToIt) {
  EXPECT_OK(store_->open(record(), texts(3), false));
  auto job = store_->job();
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  EXPECT_EQ(job->prompt_count(), 3u);
  EXPECT_EQ(job->status(), proto::JOB_RUNNING);
  EXPECT_EQ(job->spec().seed(), 7u);
  EXPECT_EQ(job->input_digests().at("bundle/denoiser.pt"), std::string(64, 'c'));
  EXPECT_GT(job->created_unix_ms(), 0);
  auto all = store_->prompts();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*all)[i].prompt(), i);
    EXPECT_EQ((*all)[i].text(), "prompt " + std::to_string(i));
    EXPECT_EQ((*all)[i].status(), proto::PROMPT_QUEUED);
    EXPECT_EQ((*all)[i].token(), 0u);
  }
  // A second coordinator with the same record binds to the job and sees its state.
  auto leases = store_->claim(owner(1), 1, kLongLease);
  ASSERT_TRUE(leases.ok());
  auto other = make();
  proto::JobRecord renamed = record();
  renamed.set_name("another label");  // names decide nothing
  EXPECT_OK(other->open(renamed, texts(3), false));
  auto seen = other->prompts();
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ((*seen)[0].status(), proto::PROMPT_RUNNING);
  EXPECT_EQ((*seen)[0].owner(), owner(1));
}

TEST_P(JobStoreContract, RefusesADifferentJobNamingEveryDifference) {
  EXPECT_OK(store_->open(record(), texts(3), false));
  auto leases = store_->claim(owner(1), 1, kLongLease);  // some progress: a committed generation
  ASSERT_TRUE(leases.ok());
  EXPECT_OK(store_->commit_checkpoint((*leases)[0], checkpoint(0, 1, 0.5)));
  proto::JobRecord changed = record(8);
  changed.mutable_spec()->mutable_search()->set_population(1, 5);
  changed.mutable_spec()->mutable_search()->add_population(2);
  (*changed.mutable_input_digests())["bundle/denoiser.pt"] = std::string(64, 'e');
  (*changed.mutable_input_digests())["bundle/extra.pt"] = std::string(64, 'f');
  changed.mutable_input_digests()->erase("bundle/manifest.json");
  const Status s = make()->open(changed, texts(4), false);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  for (const char* expected : {"different job spec", "spec.seed: 7 -> 8", "spec.search.population[1]: 3 -> 5",
                               "spec.search.population[3]: unset -> 2", "input file bundle/denoiser.pt changed",
                               "input file bundle/extra.pt added", "input file bundle/manifest.json removed",
                               "prompt count: 3 -> 4", "--restart"}) {
    EXPECT_NE(s.message().find(expected), std::string::npos) << "missing '" << expected << "' in: " << s.message();
  }
  auto job = store_->job();
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->spec().seed(), 7u);  // the refusal wrote nothing
}

// A job that never committed a generation (its first run failed early) has nothing to lose: a
// different record replaces it, so the corrected spec is not refused as "a different job".
TEST_P(JobStoreContract, ADifferentJobWithoutProgressIsReplaced) {
  EXPECT_OK(store_->open(record(), texts(3), false));
  ASSERT_TRUE(store_->claim(owner(1), 2, kLongLease).ok());  // claimed, nothing committed
  EXPECT_OK(make()->open(record(8), texts(2), false));
  auto job = store_->job();
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->spec().seed(), 8u);
  EXPECT_EQ(job->prompt_count(), 2u);
  const auto prompts = store_->prompts();
  ASSERT_TRUE(prompts.ok());
  for (const auto& p : *prompts) EXPECT_EQ(p.status(), proto::PROMPT_QUEUED) << p.prompt();
}

TEST_P(JobStoreContract, RestartDiscardsTheState) {
  EXPECT_OK(store_->open(record(), texts(3), false));
  auto leases = store_->claim(owner(1), 2, kLongLease);
  ASSERT_TRUE(leases.ok());
  ASSERT_EQ(leases->size(), 2u);
  EXPECT_OK(store_->commit_checkpoint((*leases)[0], checkpoint(0, 1, 0.5)));
  EXPECT_OK(store_->save_outcome((*leases)[1], outcome(1)));
  proto::ProgressEvent event;
  event.set_prompt(0);
  EXPECT_OK(store_->append_progress(event));
  EXPECT_OK(store_->add_outputs({"images/a.png"}));
  EXPECT_OK(store_->log_event("before the restart"));

  EXPECT_OK(make()->open(record(9), texts(2), true));
  auto job = store_->job();
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->spec().seed(), 9u);
  EXPECT_EQ(job->prompt_count(), 2u);
  auto all = store_->prompts();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  for (const auto& p : *all) {
    EXPECT_EQ(p.status(), proto::PROMPT_QUEUED);
    EXPECT_EQ(p.token(), 0u);
    EXPECT_EQ(p.generation(), 0u);
  }
  EXPECT_FALSE(store_->load_checkpoint(0)->has_value());
  EXPECT_FALSE(store_->load_outcome(1)->has_value());
  EXPECT_TRUE(store_->progress(10)->empty());
  EXPECT_TRUE(store_->outputs()->empty());
  EXPECT_LEASE_LOST(store_->commit_checkpoint((*leases)[0], checkpoint(0, 2, 0.6)));
}

TEST_P(JobStoreContract, ClaimsLowestIndexFirstAndNeverTwice) {
  EXPECT_OK(store_->open(record(), texts(5), false));
  auto other = make();
  auto a = store_->claim(owner(1), 2, kLongLease);
  auto b = other->claim(owner(2), 2, kLongLease);
  auto rest = store_->claim(owner(1), 10, kLongLease);
  auto none = other->claim(owner(2), 3, kLongLease);
  ASSERT_TRUE(a.ok() && b.ok() && rest.ok() && none.ok());
  auto prompts_of = [](const std::vector<proto::Lease>& leases) {
    std::vector<uint32_t> out;
    for (const auto& l : leases) out.push_back(l.prompt());
    return out;
  };
  EXPECT_EQ(prompts_of(*a), (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(prompts_of(*b), (std::vector<uint32_t>{2, 3}));
  EXPECT_EQ(prompts_of(*rest), (std::vector<uint32_t>{4}));
  EXPECT_TRUE(none->empty());
  const int64_t now = now_ms();
  for (const auto& l : *b) {
    EXPECT_EQ(l.owner(), owner(2));
    EXPECT_EQ(l.token(), 1u);
    EXPECT_GT(l.expires_unix_ms(), now + 500 * 1000);  // the lease runs ~600 s from the claim
    const proto::PromptRecord p = prompt(l.prompt());
    EXPECT_EQ(p.status(), proto::PROMPT_RUNNING);
    EXPECT_EQ(p.owner(), owner(2));
    EXPECT_EQ(p.token(), 1u);
    EXPECT_EQ(p.attempts(), 1u);
    EXPECT_EQ(p.lease_expires_unix_ms(), l.expires_unix_ms());
  }
  EXPECT_TRUE(store_->claim(owner(3), 0, kLongLease)->empty());
  EXPECT_EQ(store_->claim(owner(3), 1, 0).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(JobStoreContract, ExpiredLeaseIsClaimedAgainAndTheStaleOwnerWritesNothing) {
  EXPECT_OK(store_->open(record(), texts(3), false));
  auto stale = store_->claim(owner(1), 1, kLongLease);
  ASSERT_TRUE(stale.ok());
  ASSERT_EQ(stale->size(), 1u);
  EXPECT_OK(store_->commit_checkpoint((*stale)[0], checkpoint(0, 1, 0.25)));
  auto other = make();
  auto early = other->claim(owner(2), 1, kLongLease);  // prompt 0's lease still runs
  ASSERT_TRUE(early.ok());
  ASSERT_EQ(early->size(), 1u);
  EXPECT_EQ((*early)[0].prompt(), 1u);

  // The stale owner's last renewal, before it stopped (hung, or died): its lease runs out.
  proto::Lease old = (*stale)[0];
  EXPECT_OK(store_->renew(old, kShortLease));
  let_short_leases_expire();
  auto taken = other->claim(owner(2), 1, kLongLease);
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ((*taken)[0].prompt(), 0u);
  EXPECT_EQ((*taken)[0].token(), 2u);

  EXPECT_LEASE_LOST(store_->commit_checkpoint(old, checkpoint(0, 2, 0.9)));
  EXPECT_LEASE_LOST(store_->save_outcome(old, outcome(0)));
  EXPECT_LEASE_LOST(store_->mark_failed(old, "stale"));
  EXPECT_LEASE_LOST(store_->release(old));
  EXPECT_LEASE_LOST(store_->renew(old, kLongLease));
  const proto::PromptRecord p = prompt(0);
  EXPECT_EQ(p.status(), proto::PROMPT_RUNNING);
  EXPECT_EQ(p.owner(), owner(2));
  EXPECT_EQ(p.token(), 2u);
  EXPECT_EQ(p.attempts(), 2u);
  EXPECT_EQ(p.generation(), 1u);
  EXPECT_DOUBLE_EQ(p.best_fitness(), 0.25);
  auto kept = store_->load_checkpoint(0);
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_EQ((*kept)->generation(), 1u);  // the new owner resumes from the last committed generation
  EXPECT_FALSE(store_->load_outcome(0)->has_value());
  // The new owner's lease works.
  EXPECT_OK(other->commit_checkpoint((*taken)[0], checkpoint(0, 2, 0.3)));

  // A claim's own lease runs out the same way.
  auto brief = store_->claim(owner(3), 1, kShortLease);
  ASSERT_TRUE(brief.ok());
  ASSERT_EQ(brief->size(), 1u);
  EXPECT_EQ((*brief)[0].prompt(), 2u);
#ifndef EVOSEARCH_CONTRACT_REDIS
  // A millisecond before its expiry, by the test's clock, the lease still holds.
  clock_ms_ = (*brief)[0].expires_unix_ms() - 1;
  EXPECT_TRUE(other->claim(owner(2), 1, kLongLease)->empty());
#endif
  let_short_leases_expire();
  auto again = other->claim(owner(2), 1, kLongLease);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].prompt(), 2u);
  EXPECT_EQ((*again)[0].token(), 2u);
}

TEST_P(JobStoreContract, RenewedLeaseIsNotClaimed) {
  EXPECT_OK(store_->open(record(), texts(1), false));
  auto leases = store_->claim(owner(1), 1, kShortLease);
  ASSERT_TRUE(leases.ok());
  ASSERT_EQ(leases->size(), 1u);
  proto::Lease lease = (*leases)[0];
  const int64_t before = lease.expires_unix_ms();
  EXPECT_OK(store_->renew(lease, kLongLease));
  EXPECT_GT(lease.expires_unix_ms(), before + 500 * 1000);
  EXPECT_EQ(prompt(0).lease_expires_unix_ms(), lease.expires_unix_ms());
  let_short_leases_expire();
  EXPECT_TRUE(make()->claim(owner(2), 1, kLongLease)->empty());
  EXPECT_OK(store_->commit_checkpoint(lease, checkpoint(0, 1, 0.1)));
}

TEST_P(JobStoreContract, CommitSetsGenerationAndBest) {
  EXPECT_OK(store_->open(record(), texts(2), false));
  auto leases = store_->claim(owner(1), 2, kLongLease);
  ASSERT_TRUE(leases.ok());
  const proto::CheckpointRecord first = checkpoint(1, 1, 0.125);
  EXPECT_OK(store_->commit_checkpoint((*leases)[1], first));
  const proto::CheckpointRecord second = checkpoint(1, 2, 0.3333333333333333);
  EXPECT_OK(store_->commit_checkpoint((*leases)[1], second));
  const proto::PromptRecord p = prompt(1);
  EXPECT_EQ(p.generation(), 2u);
  EXPECT_EQ(p.generation_count(), 5u);
  EXPECT_EQ(p.best_fitness(), 0.3333333333333333);
  auto loaded = store_->load_checkpoint(1);
  ASSERT_TRUE(loaded.ok() && loaded->has_value()) << loaded.status().to_string();
  EXPECT_TRUE(MessageDifferencer::Equals(**loaded, second));
  EXPECT_FALSE(store_->load_checkpoint(0)->has_value());
  EXPECT_EQ(store_->commit_checkpoint((*leases)[0], checkpoint(1, 3, 0.5)).code(), StatusCode::kInvalidArgument);
}

TEST_P(JobStoreContract, OutcomeMarksDoneAndDropsTheCheckpoint) {
  EXPECT_OK(store_->open(record(), texts(2), false));
  auto leases = store_->claim(owner(1), 2, kLongLease);
  ASSERT_TRUE(leases.ok());
  EXPECT_OK(store_->commit_checkpoint((*leases)[0], checkpoint(0, 1, 0.5)));
  EXPECT_OK(store_->save_outcome((*leases)[0], outcome(0)));
  EXPECT_EQ(prompt(0).status(), proto::PROMPT_DONE);
  EXPECT_FALSE(store_->load_checkpoint(0)->has_value());
  auto loaded = store_->load_outcome(0);
  ASSERT_TRUE(loaded.ok() && loaded->has_value());
  EXPECT_TRUE(MessageDifferencer::Equals(**loaded, outcome(0)));
  EXPECT_LEASE_LOST(store_->renew((*leases)[0], kLongLease));  // done: the lease is over
  EXPECT_OK(store_->save_outcome((*leases)[0], outcome(0)));  // a retry under the same lease: no error
  proto::Lease other = (*leases)[0];
  other.set_token(other.token() + 1);
  EXPECT_LEASE_LOST(store_->save_outcome(other, outcome(0)));  // but not under another
  EXPECT_EQ(store_->job()->status(), proto::JOB_RUNNING);
  EXPECT_OK(store_->save_outcome((*leases)[1], outcome(1)));
  EXPECT_EQ(store_->job()->status(), proto::JOB_DONE);
  EXPECT_TRUE(store_->claim(owner(2), 5, kShortLease)->empty());
}

TEST_P(JobStoreContract, FailedPromptsAreNotClaimed) {
  EXPECT_OK(store_->open(record(), texts(2), false));
  auto leases = store_->claim(owner(1), 2, kShortLease);
  ASSERT_TRUE(leases.ok());
  EXPECT_OK(store_->mark_failed((*leases)[0], "decoder returned NaN"));
  EXPECT_OK(store_->save_outcome((*leases)[1], outcome(1)));
  const proto::PromptRecord p = prompt(0);
  EXPECT_EQ(p.status(), proto::PROMPT_FAILED);
  EXPECT_EQ(p.last_error(), "decoder returned NaN");
  let_short_leases_expire();
  EXPECT_TRUE(make()->claim(owner(2), 2, kLongLease)->empty());
  EXPECT_EQ(store_->job()->status(), proto::JOB_FAILED);
}

TEST_P(JobStoreContract, ReleaseQueuesAgainKeepingTheCheckpoint) {
  EXPECT_OK(store_->open(record(), texts(1), false));
  auto first = store_->claim(owner(1), 1, kLongLease);
  ASSERT_TRUE(first.ok());
  EXPECT_OK(store_->commit_checkpoint((*first)[0], checkpoint(0, 2, 0.5)));
  EXPECT_OK(store_->release((*first)[0]));
  EXPECT_EQ(prompt(0).status(), proto::PROMPT_QUEUED);
  auto second = make()->claim(owner(2), 1, kLongLease);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].token(), 2u);
  auto kept = store_->load_checkpoint(0);
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_EQ((*kept)->generation(), 2u);
  EXPECT_LEASE_LOST(store_->release((*first)[0]));
}

TEST_P(JobStoreContract, ProgressIsBoundedAndOrdered) {
  EXPECT_OK(store_->open(record(), texts(1), false));
  const size_t total = JobStore::kProgressLimit + 25;
  for (size_t n = 0; n < total; ++n) {
    proto::ProgressEvent e;
    e.set_generation(static_cast<uint32_t>(n));
    e.set_owner(owner(1));
    e.set_best_fitness(0.001 * n);
    const Status s = store_->append_progress(e);
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  auto all = store_->progress(total + 100);
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  ASSERT_EQ(all->size(), JobStore::kProgressLimit);
  for (size_t i = 0; i < all->size(); ++i) ASSERT_EQ((*all)[i].generation(), 25 + i);
  auto newest = store_->progress(3);
  ASSERT_TRUE(newest.ok());
  ASSERT_EQ(newest->size(), 3u);
  EXPECT_EQ((*newest)[0].generation(), total - 3);
  EXPECT_EQ((*newest)[2].generation(), total - 1);
  EXPECT_EQ((*newest)[2].owner(), owner(1));
}

TEST_P(JobStoreContract, OutputsRegister) {
  EXPECT_OK(store_->open(record(), texts(1), false));
  EXPECT_TRUE(store_->outputs()->empty());
  EXPECT_OK(store_->add_outputs({"images/0000-a.png", "grids/0000-a-gen1.png"}));
  EXPECT_OK(make()->add_outputs({"images/0000-a.png", "results.json"}));
  EXPECT_EQ(*store_->outputs(), (std::vector<std::string>{"grids/0000-a-gen1.png", "images/0000-a.png", "results.json"}));
  for (const char* bad : {"../escape.png", "/etc/passwd", "images/../../x", "two\nlines", ""}) {
    EXPECT_EQ(store_->add_outputs({bad}).code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(store_->outputs()->size(), 3u);
}

TEST_P(JobStoreContract, ChangedCheckpointsAndOutcomesAreRefused) {
  EXPECT_OK(store_->open(record(), texts(2), false));
  auto leases = store_->claim(owner(1), 2, kLongLease);
  ASSERT_TRUE(leases.ok());
  EXPECT_OK(store_->commit_checkpoint((*leases)[0], checkpoint(0, 1, 0.5)));
  EXPECT_OK(store_->save_outcome((*leases)[1], outcome(1)));
  ASSERT_TRUE(store_->load_checkpoint(0).ok());
  ASSERT_TRUE(store_->load_outcome(1).ok());
  tamper("checkpoint", 0);
  tamper("outcome", 1);
  const Status checkpoint = store_->load_checkpoint(0).status();
  EXPECT_EQ(checkpoint.code(), StatusCode::kDataLoss);
  EXPECT_NE(checkpoint.message().find("does not match its checksum"), std::string::npos) << checkpoint.message();
  const Status outcome = store_->load_outcome(1).status();
  EXPECT_EQ(outcome.code(), StatusCode::kDataLoss);
  EXPECT_NE(outcome.message().find("does not match its checksum"), std::string::npos) << outcome.message();
}

TEST_P(JobStoreContract, RecordsThatDoNotParseAreDataLoss) {
  EXPECT_OK(store_->open(record(), texts(2), false));
  auto leases = store_->claim(owner(1), 1, kLongLease);
  ASSERT_TRUE(leases.ok());
  EXPECT_OK(store_->commit_checkpoint((*leases)[0], checkpoint(0, 1, 0.5)));
  corrupt("checkpoint");
  EXPECT_EQ(store_->load_checkpoint(0).status().code(), StatusCode::kDataLoss);
  corrupt("prompt");
  EXPECT_EQ(store_->prompts().status().code(), StatusCode::kDataLoss);
  corrupt("job");
  const Status job = store_->job().status();
  EXPECT_EQ(job.code(), StatusCode::kDataLoss);
  EXPECT_NE(job.message().find(store_->describe()), std::string::npos) << job.message();
  EXPECT_EQ(make()->open(record(), texts(2), false).code(), StatusCode::kDataLoss);
  EXPECT_OK(make()->open(record(), texts(2), true));  // --restart gets past it
}

TEST_P(JobStoreContract, ConcurrentClaimersNeverShareAPrompt) {
  constexpr int kThreads = 8, kPerThread = 50;
  EXPECT_OK(store_->open(record(), texts(kThreads * kPerThread), false));
  std::vector<std::vector<proto::Lease>> got(kThreads);
  std::vector<std::string> errors(kThreads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto store = open_job_store(url_, dir_, job_name_);
      if (!store.ok()) {
        errors[t] = store.status().to_string();
        return;
      }
      ++ready;
      while (ready < kThreads) std::this_thread::yield();  // start together
      for (;;) {
        auto leases = (*store)->claim(owner(t), 3, kLongLease);
        if (!leases.ok()) {
          errors[t] = leases.status().to_string();
          return;
        }
        if (leases->empty()) return;
        for (const auto& lease : *leases) {
          got[t].push_back(lease);
          const Status s = (*store)->save_outcome(lease, outcome(lease.prompt()));
          if (!s.ok()) errors[t] = s.to_string();
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<uint32_t> seen;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(errors[t], "") << "thread " << t;
    for (const auto& lease : got[t]) {
      EXPECT_TRUE(seen.insert(lease.prompt()).second) << "prompt " << lease.prompt() << " claimed twice";
      EXPECT_EQ(lease.token(), 1u);
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(store_->job()->status(), proto::JOB_DONE);
}

// A reply lost after the store ran the call (a command timeout, a dropped connection) makes the
// retrying layer repeat the call: every call that changes the store must then have its effect
// once and answer as the first try would have. The layer under the retries drops the first
// reply of every changing call; while a release's reply is lost, another coordinator claims the
// released prompt, so the repeat cannot tell success from the prompt's state alone.
TEST_P(JobStoreContract, EveryChangeIsSafeToRepeatAfterALostReply) {
  EXPECT_OK(store_->open(record(), texts(4), false));
  auto other = make();
  const std::set<std::string> reads = {"job", "prompts", "load_checkpoint", "load_outcome", "progress", "outputs"};
  bool dropped_last = false;
  std::optional<proto::Lease> taken_over;  // what `other` claimed while a release's reply was lost
  auto layer = std::make_unique<testing_support::DroppedReplyStore>(make(), [&](int, const std::string& call) {
    const bool drop = !dropped_last && !reads.count(call);
    dropped_last = drop;
    if (drop && call == "release" && !taken_over) {
      auto leases = other->claim(owner(2), 1, kLongLease);
      if (leases.ok() && leases->size() == 1) taken_over = (*leases)[0];
    }
    return drop;
  });
  const testing_support::DroppedReplyStore& faults = *layer;
  const std::unique_ptr<JobStore> store = with_retries(std::move(layer), 60);

  auto leases = store->claim(owner(1), 2, kLongLease);
  ASSERT_TRUE(leases.ok()) << leases.status().to_string();
  ASSERT_EQ(leases->size(), 2u);
  EXPECT_EQ((*leases)[0].prompt(), 0u) << "the repeat returns the leases the first try gave";
  EXPECT_EQ((*leases)[1].prompt(), 1u);
  for (uint32_t i : {0u, 1u}) {
    EXPECT_EQ(prompt(i).attempts(), 1u) << i;
    EXPECT_EQ(prompt(i).token(), (*leases)[i].token()) << i;
  }
  for (uint32_t i : {2u, 3u}) EXPECT_EQ(prompt(i).status(), proto::PROMPT_QUEUED) << "prompt " << i << " orphaned";

  proto::Lease renewed = (*leases)[0];
  EXPECT_OK(store->renew(renewed, kLongLease));
  EXPECT_EQ(prompt(0).lease_expires_unix_ms(), renewed.expires_unix_ms());
  EXPECT_OK(store->commit_checkpoint((*leases)[0], checkpoint(0, 1, 0.5)));
  EXPECT_OK(store->commit_checkpoint((*leases)[0], checkpoint(0, 2, 0.75)));
  EXPECT_EQ(prompt(0).generation(), 2u);
  EXPECT_OK(store->save_outcome((*leases)[0], outcome(0)));
  EXPECT_EQ(prompt(0).status(), proto::PROMPT_DONE);

  EXPECT_OK(store->release((*leases)[1]));
  ASSERT_TRUE(taken_over.has_value()) << "another coordinator claimed the released prompt meanwhile";
  EXPECT_EQ(taken_over->prompt(), 1u);
  EXPECT_EQ(prompt(1).owner(), owner(2));
  EXPECT_LEASE_LOST(store->release((*leases)[1]));  // a new call, not a repeat: the lease is gone

  auto failing = store->claim(owner(1), 1, kLongLease);
  ASSERT_TRUE(failing.ok() && failing->size() == 1u);
  EXPECT_EQ((*failing)[0].prompt(), 2u);
  EXPECT_OK(store->mark_failed((*failing)[0], "out of memory"));
  EXPECT_EQ(prompt(2).status(), proto::PROMPT_FAILED);
  EXPECT_EQ(prompt(3).status(), proto::PROMPT_QUEUED);

  for (uint32_t generation : {1u, 2u}) {
    proto::ProgressEvent event;
    event.set_prompt(0);
    event.set_generation(generation);
    EXPECT_OK(store->append_progress(event));
  }
  auto events = store_->progress(10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u) << "each event stored once";
  EXPECT_EQ((*events)[0].generation(), 1u);
  EXPECT_EQ((*events)[1].generation(), 2u);

  EXPECT_OK(store->log_event("written once"));
  EXPECT_EQ(event_lines("written once"), 1);
  EXPECT_OK(store->add_outputs({"images/a.png"}));
  EXPECT_EQ(*store_->outputs(), std::vector<std::string>{"images/a.png"});

  EXPECT_EQ(faults.dropped(),
            (std::vector<std::string>{"claim", "renew", "commit_checkpoint", "commit_checkpoint", "save_outcome", "release",
                                      "release", "claim", "mark_failed", "append_progress", "append_progress", "log_event",
                                      "add_outputs"}));
}

TEST_P(JobStoreContract, DescribeSaysWhere) {
#ifdef EVOSEARCH_CONTRACT_REDIS
  EXPECT_NE(store_->describe().find("redis://"), std::string::npos) << store_->describe();
  EXPECT_NE(store_->describe().find(job_name_), std::string::npos) << store_->describe();
#else
  EXPECT_EQ(store_->describe(), (fs::path(dir_) / "state").string());
#endif
  EXPECT_EQ(store_->job().status().code(), StatusCode::kNotFound);  // nothing opened yet
}

#ifdef EVOSEARCH_CONTRACT_REDIS
INSTANTIATE_TEST_SUITE_P(Redis, JobStoreContract, testing::Values("redis"), [](const auto& info) { return info.param; });
#else
INSTANTIATE_TEST_SUITE_P(File, JobStoreContract, testing::Values("file"), [](const auto& info) { return info.param; });
#endif

#ifdef EVOSEARCH_CONTRACT_REDIS

// A fresh folder for a private server of one test.
std::string server_dir(const std::string& name) {
  const fs::path dir = test_root() / ("redis-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

TEST(RedisStore, UnreachableServerIsUnavailable) {
  const int port = testing_support::free_port();
  const std::string password = "hunter2-never-shown";
  auto store = open_job_store("redis://:" + password + "@127.0.0.1:" + std::to_string(port) + "/0", "", "closed");
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  const Status s = (*store)->open(record(), texts(1), false);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.to_string();
  EXPECT_NE(s.message().find("127.0.0.1:" + std::to_string(port)), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find(password), std::string::npos) << s.message();
  EXPECT_EQ((*store)->describe().find(password), std::string::npos);
  EXPECT_EQ((*store)->claim("a", 1, 1).status().code(), StatusCode::kUnavailable);
}

TEST(RedisStore, PasswordNeverShows) {
  const std::string password = "Pa55-w0rd-only-for-this-test";
  const std::string dir = server_dir("password");
  testing_support::TestRedisServer server(dir, testing_support::free_port(), password);
  std::string error;
  if (!server.start(error)) EVOSEARCH_SKIP_UNLESS_CI("redis-server", "cannot start a private one: " << error);

  auto good = open_job_store(server.url(password), "", "secret-job");
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE((*good)->open(record(), texts(2), false).ok());
  EXPECT_EQ((*good)->describe().find(password), std::string::npos) << (*good)->describe();

  const std::string wrong = "wrong-password-also-secret";
  auto bad = open_job_store(server.url(wrong), "", "secret-job");
  ASSERT_TRUE(bad.ok());
  const Status refused = (*bad)->prompts().status();
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition) << refused.to_string();
  EXPECT_EQ(refused.message().find(wrong), std::string::npos) << refused.message();
  EXPECT_EQ(refused.message().find(password), std::string::npos) << refused.message();

  auto none = open_job_store(server.url(""), "", "secret-job");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ((*none)->prompts().status().code(), StatusCode::kFailedPrecondition);  // NOAUTH

  ::setenv("REDISCLI_AUTH", password.c_str(), 1);
  auto from_env = open_job_store(server.url(""), "", "secret-job");
  ::unsetenv("REDISCLI_AUTH");
  ASSERT_TRUE(from_env.ok());
  auto prompts = (*from_env)->prompts();
  ASSERT_TRUE(prompts.ok()) << prompts.status().to_string();
  EXPECT_EQ(prompts->size(), 2u);
  EXPECT_EQ((*from_env)->describe().find(password), std::string::npos);
}

TEST(RedisStore, RestartedServerStillHoldsTheJob) {
  const std::string dir = server_dir("restart");
  testing_support::TestRedisServer server(dir, testing_support::free_port());
  std::string error;
  if (!server.start(error)) EVOSEARCH_SKIP_UNLESS_CI("redis-server", "cannot start a private one: " << error);
  auto store = open_job_store(server.url(""), "", "survivor");
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->open(record(), texts(3), false).ok());
  auto leases = (*store)->claim(owner(1), 1, kLongLease);
  ASSERT_TRUE(leases.ok());
  ASSERT_TRUE((*store)->commit_checkpoint((*leases)[0], checkpoint(0, 1, 0.75)).ok());

  server.stop();
  EXPECT_EQ((*store)->prompts().status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(server.start(error)) << error;

  // The same store object reconnects, and its scripts load again (the server forgot them).
  auto prompts = (*store)->prompts();
  ASSERT_TRUE(prompts.ok()) << prompts.status().to_string();
  EXPECT_EQ((*prompts)[0].status(), proto::PROMPT_RUNNING);
  EXPECT_EQ((*prompts)[0].token(), 1u);
  EXPECT_EQ((*prompts)[0].generation(), 1u);
  auto kept = (*store)->load_checkpoint(0);
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_TRUE(MessageDifferencer::Equals(**kept, checkpoint(0, 1, 0.75)));
  EXPECT_TRUE((*store)->commit_checkpoint((*leases)[0], checkpoint(0, 2, 0.8)).ok());
  auto next = (*store)->claim(owner(2), 5, kLongLease);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->size(), 2u);  // prompts 1 and 2; prompt 0 is still leased
}

#endif

}  // namespace
}  // namespace evosearch
