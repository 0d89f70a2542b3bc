// A whole job, run once for every call its job loop makes to the job store, with the reply of that
// call lost after the store ran it (tests/dropped_reply_store.h, under the retrying layer, which
// repeats the call): every prompt still has exactly one outcome and the answers of an undisturbed
// run, no prompt is left claimed or was claimed twice, and no progress event or event-log line is
// stored twice. Built twice, like the contract suite: lost_reply_job_file_test on the file store
// (label unit) and lost_reply_job_redis_test (EVOSEARCH_LOST_REPLY_REDIS) on the Redis store at
// EVOSEARCH_TEST_REDIS (default redis://127.0.0.1:6391/0, cluster/redis-local.sh; label redis).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "coordinator/job_setup.h"
#include "coordinator/job_spec.h"
#include "coordinator/local_executor.h"
#include "dropped_reply_store.h"
#include "tiny_bundle.h"
#ifdef EVOSEARCH_LOST_REPLY_REDIS
#include <hiredis/hiredis.h>

#include "jobs/redis_connection.h"
#include "jobs/redis_job_store.h"
#include "skip_or_fail.h"
#endif

namespace evosearch {
namespace {

namespace fs = std::filesystem;

std::string store_url() {
#ifdef EVOSEARCH_LOST_REPLY_REDIS
  const char* url = std::getenv("EVOSEARCH_TEST_REDIS");
  return url && *url ? url : "redis://127.0.0.1:6391/0";
#else
  return "";
#endif
}

// What one run left: its results and the job store's state after it.
struct Ran {
  proto::JobResults results;
  std::vector<std::string> calls;  // the job loop's store calls, in order
  std::string dropped;             // the call whose reply was lost ("" for none)
  std::vector<proto::PromptRecord> prompts;
  std::vector<proto::ProgressEvent> progress;
  std::vector<std::string> events;  // event-log lines, without their time stamps and run names
  std::vector<std::string> outputs;
};

class LostReplyJob : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing_support::fresh_dir("lost-reply-job");
#ifdef EVOSEARCH_LOST_REPLY_REDIS
    redis_ = std::make_unique<RedisConnection>(*parse_redis_url(store_url()));
    if (auto ping = redis_->command({"PING"}); !ping.ok()) {
      EVOSEARCH_SKIP_UNLESS_CI("Redis", "nothing answers at " << store_url() << " (" << ping.status().to_string()
                                            << "); start one with `bash cluster/redis-local.sh` or set EVOSEARCH_TEST_REDIS");
    }
#endif
    testing_support::TinyBundle().write(dir_ + "/bundle");
    std::ofstream(dir_ + "/suite.txt") << "a bag\na dark coat\na tiny dress\n";
    auto bundle = Bundle::open(dir_ + "/bundle", at::kCPU);
    ASSERT_TRUE(bundle.ok()) << bundle.status().to_string();
    bundle_ = std::move(*bundle);
  }

  // Runs the job in its own output folder (and job name), losing the reply of the loop store's
  // call number `drop` (1-based; 0: none).
  Ran run(int drop) {
    const std::string name = "lost-reply-" + std::to_string(::getpid()) + "-" + std::to_string(drop);
    auto spec = parse_job_spec(R"({"name": ")" + name + R"(", "bundle": "bundle", "prompts": "suite.txt",
        "output": "out-)" + std::to_string(drop) + R"(", "job_store": ")" + store_url() + R"(", "seed": 3,
        "sampler": {"steps": 8}, "batch_size": 4, "prompts_in_flight": 2,
        "search": {"method": "evosearch", "evolution_steps": [0, 4], "population": [4, 3, 3]}})",
                               "test", dir_);
    EXPECT_TRUE(spec.ok()) << spec.status().to_string();
    Ran ran;
    if (!spec.ok()) return ran;
    auto backend = make_torch_backend(*spec, *bundle_, [] { return false; });
    EXPECT_TRUE(backend.ok()) << backend.status().to_string();
    if (!backend.ok()) return ran;
    LocalExecutor executor(**backend);
    RunOptions options;
    options.store_timeout = 60;
    options.store_layer = [&](std::unique_ptr<JobStore> store, const std::string& user) -> std::unique_ptr<JobStore> {
      if (user != "loop") return store;  // the keeper renews on a timer: its calls are not numbered the same each run
      return std::make_unique<testing_support::DroppedReplyStore>(std::move(store), [&](int n, const std::string& call) {
        ran.calls.push_back(call);
        if (n != drop) return false;
        ran.dropped = call;
        return true;
      });
    };
    auto results = run_job(*spec, bundle_->manifest(), 8, executor, options);
    EXPECT_TRUE(results.ok()) << "reply of call " << drop << " lost: " << results.status().to_string();
    if (results.ok()) ran.results = *results;

    auto store = open_job_store(store_url(), spec->output(), spec->name());
    EXPECT_TRUE(store.ok()) << store.status().to_string();
    if (!store.ok()) return ran;
    auto prompts = (*store)->prompts();
    auto progress = (*store)->progress(1000);
    auto outputs = (*store)->outputs();
    EXPECT_TRUE(prompts.ok() && progress.ok() && outputs.ok());
    if (prompts.ok()) ran.prompts = *prompts;
    if (progress.ok()) ran.progress = *progress;
    if (outputs.ok()) ran.outputs = *outputs;
    ran.events = event_lines(name, spec->output());
    out_dirs_[drop] = spec->output();
    return ran;
  }

  // The job's event log, each line without its time stamp and with the run's name (random) cut out.
  std::vector<std::string> event_lines(const std::string& name, const std::string& output) {
    std::vector<std::string> lines;
#ifdef EVOSEARCH_LOST_REPLY_REDIS
    const RedisJobKeys keys = redis_job_keys(name);
    auto read = redis_->command({"LRANGE", keys.events, "0", "-1"});
    EXPECT_TRUE(read.ok());
    for (size_t i = 0; read.ok() && i < (*read)->elements; ++i) {
      lines.emplace_back((*read)->element[i]->str, (*read)->element[i]->len);
    }
    std::vector<std::string> del = {"DEL"};
    for (const std::string& key : keys.all()) del.push_back(key);
    EXPECT_TRUE(redis_->command(del).ok());
    (void)output;
#else
    (void)name;
    auto read = read_file(output + "/state/events.log");
    std::string line;
    for (std::istringstream in(read.ok() ? *read : ""); std::getline(in, line);) lines.push_back(line);
#endif
    for (std::string& l : lines) {
      l = l.substr(std::min(l.size(), l.find(' ') + 1));  // the time stamp
      const size_t run = l.find("run "), end = l.find(' ', run + 4);
      if (run != std::string::npos && end != std::string::npos) l.erase(run + 4, end - run - 4);
    }
    return lines;
  }

  std::string image_bytes(int run, const std::string& image) {
    auto bytes = read_file(out_dirs_[run] + "/" + image);
    EXPECT_TRUE(bytes.ok()) << image;
    return bytes.ok() ? *bytes : "";
  }

  std::string dir_;
  std::unique_ptr<Bundle> bundle_;
  std::map<int, std::string> out_dirs_;
#ifdef EVOSEARCH_LOST_REPLY_REDIS
  std::unique_ptr<RedisConnection> redis_;
#endif
};

TEST_F(LostReplyJob, AReplyLostAtEveryStoreCallChangesNothing) {
  const Ran reference = run(0);
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(reference.results.prompts_size(), 3);
  ASSERT_EQ(reference.progress.size(), 3u * 3u) << "3 prompts, 3 generations each";
  std::multiset<std::string> dropped;
  for (int drop = 1; drop <= static_cast<int>(reference.calls.size()); ++drop) {
    const Ran ran = run(drop);
    SCOPED_TRACE("reply of call " + std::to_string(drop) + " (" + ran.dropped + ") lost");
    EXPECT_EQ(ran.calls.size(), reference.calls.size() + 1) << "the lost call repeated once, no other call added";
    EXPECT_FALSE(ran.dropped.empty());
    dropped.insert(ran.dropped);
    ASSERT_EQ(ran.results.prompts_size(), 3);
    for (int i = 0; i < 3; ++i) {
      const proto::PromptOutcome &a = ran.results.prompts(i), &b = reference.results.prompts(i);
      EXPECT_EQ(a.generation(), b.generation()) << "prompt " << i;
      EXPECT_EQ(a.candidate(), b.candidate()) << "prompt " << i;
      EXPECT_EQ(a.nfe(), b.nfe()) << "prompt " << i;
      EXPECT_EQ(a.scores().at("brightness"), b.scores().at("brightness")) << "prompt " << i;
      EXPECT_EQ(image_bytes(drop, a.image()), image_bytes(0, b.image())) << "prompt " << i;
    }
    EXPECT_EQ(ran.results.totals().nfe(), reference.results.totals().nfe());
    ASSERT_EQ(ran.prompts.size(), 3u);
    for (const proto::PromptRecord& p : ran.prompts) {
      EXPECT_EQ(p.status(), proto::PROMPT_DONE) << "prompt " << p.prompt();
      EXPECT_EQ(p.attempts(), 1u) << "prompt " << p.prompt() << " claimed more than once";
    }
    std::set<std::pair<uint32_t, uint32_t>> generations;
    for (const proto::ProgressEvent& e : ran.progress) {
      EXPECT_TRUE(generations.insert({e.prompt(), e.generation()}).second)
          << "progress event of prompt " << e.prompt() << " generation " << e.generation() << " stored twice";
    }
    EXPECT_EQ(ran.progress.size(), reference.progress.size());
    EXPECT_EQ(ran.events, reference.events);
    EXPECT_EQ(ran.outputs, reference.outputs);
  }
  // Every kind of call the job makes lost its reply at least once.
  for (const char* call : {"open", "prompts", "claim", "load_outcome", "load_checkpoint", "commit_checkpoint",
                           "append_progress", "save_outcome", "log_event", "add_outputs"}) {
    EXPECT_GE(dropped.count(call), 1u) << call;
  }
  std::printf("%zu runs, one lost reply each:", reference.calls.size());
  for (auto it = dropped.begin(); it != dropped.end(); it = dropped.upper_bound(*it)) {
    std::printf(" %s %zu", it->c_str(), dropped.count(*it));
  }
  std::printf("\n");
}

}  // namespace
}  // namespace evosearch
