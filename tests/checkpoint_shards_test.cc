// Incremental checkpoints: a checkpoint writes only the live states that no committed shard holds
// (so the states a generation made), lists again the shards that still hold live states, and drops
// the rest; a whole job written this way writes each state once.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "common/shard_files.h"
#include "common/state_key.h"
#include "coordinator/job_setup.h"
#include "coordinator/job_spec.h"
#include "coordinator/local_executor.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

proto::ShardRef shard(const std::string& path, const std::vector<proto::StateRef>& states) {
  proto::ShardRef s;
  s.set_path(path);
  for (const proto::StateRef& r : states) *s.add_states() = r;
  return s;
}

std::vector<std::string> paths(const std::vector<proto::ShardRef>& shards) {
  std::vector<std::string> out;
  for (const proto::ShardRef& s : shards) out.push_back(s.path());
  return out;
}

TEST(ShardPlan, WritesOnlyLiveStatesNoShardHoldsAndKeepsShardsHoldingLiveOnes) {
  const proto::StateRef a = state_ref(0, 0, 2), b = state_ref(0, 1, 2), c = state_ref(1, 0, 4), d = state_ref(1, 1, 4);
  const std::vector<proto::ShardRef> committed{shard("g1-r1", {a, b}), shard("g1-r2", {state_ref(0, 2, 2)}),
                                               shard("g2-r1", {c})};
  const ShardPlan plan = plan_shards(committed, {b, c, d, state_ref(2, 0, 6)});
  EXPECT_EQ(paths(plan.kept), (std::vector<std::string>{"g1-r1", "g2-r1"}));
  EXPECT_EQ(paths(plan.dropped), (std::vector<std::string>{"g1-r2"}));
  ASSERT_EQ(plan.unwritten.size(), 2u);
  EXPECT_EQ(state_key(0, plan.unwritten[0]), state_key(0, d));
  EXPECT_EQ(state_key(0, plan.unwritten[1]), state_key(0, state_ref(2, 0, 6)));
}

TEST(ShardPlan, FirstCheckpointWritesEveryLiveStateOnceAndNoLiveStateDropsEveryShard) {
  const proto::StateRef a = state_ref(0, 0, 2);
  const ShardPlan first = plan_shards({}, {a, state_ref(0, 1, 2), a});
  EXPECT_TRUE(first.kept.empty() && first.dropped.empty());
  EXPECT_EQ(first.unwritten.size(), 2u) << "a state listed twice is written once";
  const ShardPlan none = plan_shards({shard("x", {a})}, {});
  EXPECT_TRUE(none.kept.empty() && none.unwritten.empty());
  EXPECT_EQ(paths(none.dropped), (std::vector<std::string>{"x"}));
}

// The in-process executor, with every checkpoint write and every live set it was told of recorded.
class RecordingExecutor final : public Executor {
 public:
  explicit RecordingExecutor(Backend& backend) : inner_(backend) {}

  struct Write {
    uint32_t prompt = 0;
    uint32_t generation = 0;  // generations completed
    std::vector<proto::StateRef> refs;
    size_t live = 0;  // live states of the prompt then (what a checkpoint of every live state writes)
  };
  std::vector<Write> writes;

  Status add_prompt(uint32_t prompt, const std::string& text, uint64_t key) override {
    return inner_.add_prompt(prompt, text, key);
  }
  Status submit(const std::vector<proto::PromptRolloutTask>& tasks) override { return inner_.submit(tasks); }
  StatusOr<std::vector<proto::PromptRolloutResult>> wait() override { return inner_.wait(); }
  std::vector<uint32_t> failed_prompts() const override { return inner_.failed_prompts(); }
  Status release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) override {
    live_[prompt] = live.size();
    return inner_.release_all_but(prompt, live);
  }
  Status release_prompt(uint32_t prompt) override { return inner_.release_prompt(prompt); }
  StatusOr<std::vector<proto::ShardRef>> write_shards(uint32_t prompt, const std::vector<proto::StateRef>& refs,
                                                      const ShardTarget& target) override {
    writes.push_back(Write{prompt, target.generation, refs, live_[prompt]});
    return inner_.write_shards(prompt, refs, target);
  }
  Status load_shards(uint32_t prompt, const std::string& output_dir,
                     const google::protobuf::RepeatedPtrField<proto::ShardRef>& shards) override {
    return inner_.load_shards(prompt, output_dir, shards);
  }
  StatusOr<std::vector<Image>> decode(uint32_t prompt, const proto::StateRef& ref) override {
    return inner_.decode(prompt, ref);
  }
  StatusOr<std::vector<double>> score(uint32_t prompt, const proto::StateRef& ref) override {
    return inner_.score(prompt, ref);
  }
  StatusOr<std::vector<std::vector<Image>>> take_frames(uint32_t prompt, const std::vector<proto::StateRef>& refs) override {
    return inner_.take_frames(prompt, refs);
  }
  double model_seconds() const override { return inner_.model_seconds(); }
  proto::PhaseSeconds model_phases() const override { return inner_.model_phases(); }
  TrafficStats traffic() const override { return inner_.traffic(); }

 private:
  LocalExecutor inner_;
  std::map<uint32_t, size_t> live_;
};

TEST(IncrementalCheckpoints, EachGenerationWritesOnlyTheStatesItMade) {
  const std::string dir = testing_support::fresh_dir("incremental-checkpoints");
  testing_support::TinyBundle().write(dir + "/bundle");
  std::ofstream(dir + "/suite.txt") << "a bag\na dark coat\na tiny dress\n";
  // Generation 0 keeps its candidates' states at every evolution step, and the best sample stays
  // live: states outlive the generation that made them.
  auto spec = parse_job_spec(R"({"bundle": "bundle", "prompts": "suite.txt", "output": "out", "seed": 7,
      "sampler": {"steps": 12}, "batch_size": 4, "prompts_in_flight": 2,
      "search": {"method": "evosearch", "evolution_steps": [0, 4, 8], "population": [6, 4, 4, 4]}})",
                             "test", dir);
  ASSERT_TRUE(spec.ok()) << spec.status().to_string();
  auto bundle = Bundle::open(spec->bundle(), at::kCPU);
  ASSERT_TRUE(bundle.ok()) << bundle.status().to_string();
  auto backend = make_torch_backend(*spec, **bundle, [] { return false; });
  ASSERT_TRUE(backend.ok()) << backend.status().to_string();
  auto sampler = sampler_config(*spec, (*bundle)->manifest());
  ASSERT_TRUE(sampler.ok());
  RecordingExecutor executor(**backend);
  auto results = run_job(*spec, (*bundle)->manifest(), sampler->steps, executor, RunOptions{});
  ASSERT_TRUE(results.ok()) << results.status().to_string();

  std::set<StateKey> written;
  int64_t written_states = 0, every_live_state = 0;
  for (const RecordingExecutor::Write& w : executor.writes) {
    for (const proto::StateRef& r : w.refs) {
      EXPECT_EQ(r.generation() + 1, w.generation) << describe_state(w.prompt, r) << ": written after generation "
                                                   << w.generation << ", not by the generation that made it";
      EXPECT_TRUE(written.insert(state_key(w.prompt, r)).second) << describe_state(w.prompt, r) << " written twice";
    }
    written_states += static_cast<int64_t>(w.refs.size());
    every_live_state += static_cast<int64_t>(w.live);
  }
  std::printf("%zu checkpoints wrote %lld states (%lld bytes); writing every live state would have written %lld\n",
              executor.writes.size(), static_cast<long long>(written_states),
              static_cast<long long>(executor.traffic().shard_bytes), static_cast<long long>(every_live_state));
  EXPECT_EQ(executor.writes.size(), 3u * 3u) << "3 prompts, 3 checkpoints each (none after the last generation)";
  const TrafficStats traffic = executor.traffic();
  EXPECT_EQ(traffic.shard_states, written_states);
  EXPECT_LE(written_states, traffic.kept_states) << "no state is written more often than rollouts kept it";
  // What checkpoints of every live state wrote before: more, since states stay live.
  EXPECT_LT(written_states, every_live_state);
  EXPECT_EQ(results->totals().checkpoint_bytes(), traffic.shard_bytes);
  // Every shard is gone once its prompt is answered.
  std::error_code ec;
  EXPECT_TRUE(fs::is_empty(dir + "/out/state/shards", ec) || !fs::exists(dir + "/out/state/shards")) << ec.message();
}

}  // namespace
}  // namespace evosearch
