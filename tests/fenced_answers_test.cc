// Fenced answer files (coordinator/answer_writer.h), in this process with the tiny bundle: a
// coordinator stopped past its lease while writing its last generation's grid and its answer, a
// second coordinator finishing the prompt meanwhile, then the first resumed. The first one's
// pixels differ by one level (float rounding differs by device and batch size). Its save is
// refused, and the published files are the ones the outcome's SHA-256 names: the grids its
// checkpoints recorded, and the second one's last grid and answer, byte for byte a clean run's.
// Deterministic: both file stores read a clock the test advances, and the second coordinator runs
// inside the first one's call for its grid's frames (no sleeps). Also: the run that finishes a
// prompt ends its lease without its keeper reporting it lost.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "common/atomic_file.h"
#include "common/checksum.h"
#include "coordinator/job_loop.h"
#include "coordinator/job_setup.h"
#include "coordinator/job_spec.h"
#include "coordinator/local_executor.h"
#include "jobs/job_identity.h"
#include "jobs/prompt_suite.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

constexpr double kLease = 600;   // never renewed during the test (every 200 s of real time)
constexpr uint32_t kLastGeneration = 3;  // population [6, 4, 4, 4]: generations 0 to 3

// The in-process executor; before the frames of generation `hook_generation`'s grid it runs
// `hook` once, and with `rounds_differently` every pixel it hands out is one level off.
class HookedExecutor final : public Executor {
 public:
  explicit HookedExecutor(Backend& backend) : inner_(backend) {}

  std::function<void()> hook;
  uint32_t hook_generation = 0;
  bool hooked = false;
  bool rounds_differently = false;

  Status add_prompt(uint32_t prompt, const std::string& text, uint64_t key) override {
    return inner_.add_prompt(prompt, text, key);
  }
  Status submit(const std::vector<proto::PromptRolloutTask>& tasks) override { return inner_.submit(tasks); }
  StatusOr<std::vector<proto::PromptRolloutResult>> wait() override { return inner_.wait(); }
  std::vector<uint32_t> failed_prompts() const override { return inner_.failed_prompts(); }
  Status release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) override {
    return inner_.release_all_but(prompt, live);
  }
  Status release_prompt(uint32_t prompt) override { return inner_.release_prompt(prompt); }
  StatusOr<std::vector<proto::ShardRef>> write_shards(uint32_t prompt, const std::vector<proto::StateRef>& refs,
                                                      const ShardTarget& target) override {
    return inner_.write_shards(prompt, refs, target);
  }
  Status load_shards(uint32_t prompt, const std::string& output_dir,
                     const google::protobuf::RepeatedPtrField<proto::ShardRef>& shards) override {
    return inner_.load_shards(prompt, output_dir, shards);
  }
  StatusOr<std::vector<Image>> decode(uint32_t prompt, const proto::StateRef& ref) override {
    ASSIGN_OR_RETURN(std::vector<Image> frames, inner_.decode(prompt, ref));
    round(frames);
    return frames;
  }
  StatusOr<std::vector<double>> score(uint32_t prompt, const proto::StateRef& ref) override {
    return inner_.score(prompt, ref);
  }
  StatusOr<std::vector<std::vector<Image>>> take_frames(uint32_t prompt, const std::vector<proto::StateRef>& refs) override {
    if (hook && !hooked && !refs.empty() && refs[0].generation() == hook_generation) {
      hooked = true;
      hook();
    }
    ASSIGN_OR_RETURN(std::vector<std::vector<Image>> candidates, inner_.take_frames(prompt, refs));
    for (std::vector<Image>& frames : candidates) round(frames);
    return candidates;
  }
  double model_seconds() const override { return inner_.model_seconds(); }
  proto::PhaseSeconds model_phases() const override { return inner_.model_phases(); }

 private:
  void round(std::vector<Image>& frames) const {
    if (!rounds_differently) return;
    for (Image& f : frames) {
      for (uint8_t& p : f.pixels) p = p < 255 ? p + 1 : p - 1;
    }
  }

  LocalExecutor inner_;
};

// A job store that, with `dies_after_save`, fails right after saving an outcome: the run ends
// there as if the process died between its fenced save and publishing its files. `after_save`
// runs after each saved outcome; `renewals_lost` counts renewals refused as "lease lost".
class HookedStore final : public JobStore {
 public:
  explicit HookedStore(std::unique_ptr<JobStore> store) : store_(std::move(store)) {}
  bool dies_after_save = false;
  std::function<void()> after_save;
  std::atomic<int> renewals_lost{0};

  std::string describe() const override { return store_->describe(); }
  Status open(const proto::JobRecord& job, const std::vector<std::string>& texts, bool restart) override {
    return store_->open(job, texts, restart);
  }
  StatusOr<proto::JobRecord> job() override { return store_->job(); }
  StatusOr<std::vector<proto::PromptRecord>> prompts() override { return store_->prompts(); }
  StatusOr<std::vector<proto::Lease>> claim(const std::string& owner, int max, double lease_seconds,
                                            const RequestId& request) override {
    return store_->claim(owner, max, lease_seconds, request);
  }
  Status renew(proto::Lease& lease, double lease_seconds, const RequestId& request) override {
    const Status renewed = store_->renew(lease, lease_seconds, request);
    if (renewed.code() == StatusCode::kFailedPrecondition) ++renewals_lost;
    return renewed;
  }
  Status release(const proto::Lease& lease, const RequestId& request) override { return store_->release(lease, request); }
  Status commit_checkpoint(const proto::Lease& lease, const proto::CheckpointRecord& c, const RequestId& request) override {
    return store_->commit_checkpoint(lease, c, request);
  }
  Status save_outcome(const proto::Lease& lease, const proto::PromptOutcome& outcome, const RequestId& request) override {
    RETURN_IF_ERROR(store_->save_outcome(lease, outcome, request));
    if (after_save) after_save();
    return dies_after_save ? Internal("died after saving the outcome") : Status::Ok();
  }
  Status mark_failed(const proto::Lease& lease, const std::string& error, const RequestId& request) override {
    return store_->mark_failed(lease, error, request);
  }
  StatusOr<std::optional<proto::CheckpointRecord>> load_checkpoint(uint32_t prompt) override {
    return store_->load_checkpoint(prompt);
  }
  StatusOr<std::optional<proto::PromptOutcome>> load_outcome(uint32_t prompt) override { return store_->load_outcome(prompt); }
  Status append_progress(const proto::ProgressEvent& event, const RequestId& request) override {
    return store_->append_progress(event, request);
  }
  StatusOr<std::vector<proto::ProgressEvent>> progress(size_t max) override { return store_->progress(max); }
  Status log_event(const std::string& event, const RequestId& request) override { return store_->log_event(event, request); }
  Status add_outputs(const std::vector<std::string>& paths, const RequestId& request) override {
    return store_->add_outputs(paths, request);
  }
  StatusOr<std::vector<std::string>> outputs() override { return store_->outputs(); }

 private:
  std::unique_ptr<JobStore> store_;
};

// One coordinator of the job in `spec`'s output folder: its own bundle, backend, executor, file
// store and lease keeper (each store reading `clock`), with leases of `lease_seconds`.
class Coordinator {
 public:
  Coordinator(const proto::JobSpec& spec, StoreClock clock, std::string owner, double lease_seconds = kLease)
      : spec_(spec), clock_(std::move(clock)), owner_(std::move(owner)), lease_seconds_(lease_seconds) {}

  Status start() {
    ASSIGN_OR_RETURN(bundle_, Bundle::open(spec_.bundle(), at::kCPU));
    ASSIGN_OR_RETURN(backend_, make_torch_backend(spec_, *bundle_, [] { return false; }));
    ASSIGN_OR_RETURN(const SamplerConfig sampler, sampler_config(spec_, bundle_->manifest()));
    executor_ = std::make_unique<HookedExecutor>(*backend_);
    ASSIGN_OR_RETURN(const std::vector<PromptEntry> suite, read_prompt_suite(spec_.prompts()));
    store_ = std::make_unique<HookedStore>(make_file_job_store(spec_.output(), clock_));
    ASSIGN_OR_RETURN(const proto::JobRecord record, make_job_record(spec_, static_cast<uint32_t>(suite.size())));
    std::vector<std::string> texts;
    for (const PromptEntry& e : suite) texts.push_back(e.text);
    RETURN_IF_ERROR(store_->open(record, texts, false));
    auto keeper_store = std::make_unique<HookedStore>(make_file_job_store(spec_.output(), clock_));
    keeper_store_ = keeper_store.get();
    keeper_ = std::make_unique<LeaseKeeper>(std::move(keeper_store), lease_seconds_);
    JobLoopOptions options;
    options.owner = owner_;
    options.steps = sampler.steps;
    options.lease_seconds = lease_seconds_;
    options.poll_seconds = 0.01;
    loop_ = std::make_unique<JobLoop>(spec_, bundle_->manifest(), options, *executor_, *store_, *keeper_);
    return loop_->add_prompts(suite);
  }

  HookedExecutor& executor() { return *executor_; }
  HookedStore& store() { return *store_; }
  const HookedStore& keeper_store() const { return *keeper_store_; }
  StatusOr<std::vector<proto::PromptOutcome>> run() { return loop_->run(); }

 private:
  const proto::JobSpec& spec_;
  const StoreClock clock_;
  const std::string owner_;
  const double lease_seconds_;
  std::unique_ptr<Bundle> bundle_;
  std::unique_ptr<TorchBackend> backend_;
  std::unique_ptr<HookedExecutor> executor_;
  std::unique_ptr<HookedStore> store_;
  HookedStore* keeper_store_ = nullptr;  // owned by keeper_
  std::unique_ptr<LeaseKeeper> keeper_;
  std::unique_ptr<JobLoop> loop_;
};

proto::JobSpec job_in(const std::string& dir) {
  testing_support::TinyBundle().write(dir + "/bundle");
  std::ofstream(dir + "/suite.txt") << "a bag\n";
  auto spec = parse_job_spec(R"({"bundle": "bundle", "prompts": "suite.txt", "output": "out", "seed": 7,
      "sampler": {"steps": 12}, "batch_size": 4, "batch_size_policy": "fixed", "generation_grids": true,
      "search": {"method": "evosearch", "evolution_steps": [0, 4, 8], "population": [6, 4, 4, 4]}})",
                             "race", dir);
  EXPECT_TRUE(spec.ok()) << spec.status().to_string();
  return spec.ok() ? *spec : proto::JobSpec();
}

std::string bytes_of(const std::string& path) {
  auto bytes = read_file(path);
  return bytes.ok() ? *bytes : "missing: " + path;
}

TEST(FencedAnswerFiles, ACoordinatorStoppedPastItsLeaseWhileWritingLeavesTheWinnersFiles) {
  const std::string base = testing_support::fresh_dir("fenced-answers");
  std::atomic<int64_t> now{1'700'000'000'000};
  const StoreClock clock = [&] { return now.load(); };

  // A clean run of the same job, alone: the bytes the race must end with.
  const proto::JobSpec clean = job_in(base + "/clean");
  Coordinator alone(clean, clock, "clean:1:0");
  ASSERT_TRUE(alone.start().ok());
  auto reference = alone.run();
  ASSERT_TRUE(reference.ok()) << reference.status().to_string();
  ASSERT_EQ(reference->size(), 1u);

  const proto::JobSpec spec = job_in(base + "/race");
  Coordinator first(spec, clock, "first:1:0"), second(spec, clock, "second:2:0");
  ASSERT_TRUE(first.start().ok());
  ASSERT_TRUE(second.start().ok());
  // The first coordinator stops as it is about to write its last generation's grid (then its
  // answer): its lease runs out, the second claims the prompt, resumes it from the first one's
  // checkpoint and finishes it. Then the first goes on, its pixels one level off.
  StatusOr<std::vector<proto::PromptOutcome>> by_second = Internal("the second coordinator never ran");
  first.executor().hook_generation = kLastGeneration;
  first.executor().rounds_differently = true;
  first.executor().hook = [&] {
    now += static_cast<int64_t>(2 * kLease * 1000);
    by_second = second.run();
  };
  auto by_first = first.run();
  ASSERT_TRUE(first.executor().hooked) << "the first coordinator never wrote generation " << kLastGeneration << "'s grid";
  ASSERT_TRUE(by_second.ok()) << by_second.status().to_string();
  ASSERT_TRUE(by_first.ok()) << by_first.status().to_string();
  ASSERT_EQ(by_first->size(), 1u);
  const proto::PromptOutcome& outcome = (*by_first)[0];
  EXPECT_EQ(outcome.token(), 2u) << "the second coordinator's lease saved the outcome";

  const fs::path out = spec.output(), clean_out = clean.output();
  const std::string image = bytes_of((out / outcome.image()).string());
  EXPECT_EQ(sha256_hex(image), outcome.image_sha256()) << "the published answer is not the one its outcome records";
  EXPECT_TRUE(image == bytes_of((clean_out / (*reference)[0].image()).string())) << "the published answer differs from a clean run's";
  int grids = 0;
  for (const proto::GenerationRecord& g : outcome.generations()) {
    if (g.grid().empty()) continue;
    ++grids;
    const std::string grid = bytes_of((out / g.grid()).string());
    EXPECT_EQ(sha256_hex(grid), g.grid_sha256()) << g.grid() << " is not the grid its outcome records";
    if (g.generation() < kLastGeneration) {
      EXPECT_EQ(g.grid_token(), 1u) << "the first coordinator's checkpoints recorded " << g.grid();
      continue;  // its own rounding: not a clean run's bytes
    }
    EXPECT_EQ(g.grid_token(), 2u);
    EXPECT_TRUE(grid == bytes_of((clean_out / g.grid()).string())) << g.grid() << " differs from a clean run's";
  }
  EXPECT_EQ(grids, static_cast<int>(kLastGeneration) + 1);
  EXPECT_FALSE(fs::exists(out / "state" / "pending")) << "unpublished files left behind";
}

// A coordinator that dies between saving its outcome and publishing its files leaves them
// pending; the next run finds the prompt done and, ending the job, publishes them.
TEST(FencedAnswerFiles, FilesLeftPendingByARunThatDiedAfterItsSaveArePublishedByTheNextRun) {
  const std::string base = testing_support::fresh_dir("fenced-answers-died");
  std::atomic<int64_t> now{1'700'000'000'000};
  const StoreClock clock = [&] { return now.load(); };
  const proto::JobSpec spec = job_in(base);
  const fs::path out = spec.output();
  {
    Coordinator dying(spec, clock, "dying:1:0");
    ASSERT_TRUE(dying.start().ok());
    dying.store().dies_after_save = true;
    auto died = dying.run();
    ASSERT_FALSE(died.ok());
    ASSERT_NE(died.status().message().find("died after saving"), std::string::npos) << died.status().to_string();
  }
  Coordinator next(spec, clock, "next:2:0");
  ASSERT_TRUE(next.start().ok());
  auto pending = make_file_job_store(spec.output(), clock)->load_outcome(0);
  ASSERT_TRUE(pending.ok() && pending->has_value());
  const proto::PromptOutcome& saved = **pending;
  EXPECT_FALSE(fs::exists(out / saved.image())) << "published before the run died";
  EXPECT_TRUE(fs::exists(pending_path(spec.output(), saved.image(), saved.token())));
  auto outcomes = next.run();
  ASSERT_TRUE(outcomes.ok()) << outcomes.status().to_string();
  ASSERT_EQ(outcomes->size(), 1u);
  EXPECT_EQ(sha256_hex(bytes_of((out / saved.image()).string())), saved.image_sha256());
  const proto::GenerationRecord& last = saved.generations(saved.generations_size() - 1);
  EXPECT_EQ(sha256_hex(bytes_of((out / last.grid()).string())), last.grid_sha256());
  EXPECT_FALSE(fs::exists(out / "state" / "pending"));
}


// The run that finishes a prompt ends its lease itself: its keeper stops renewing it before the
// outcome is saved, so no renewal finds the prompt done and reports the lease lost ("another
// coordinator continues it"). Real time: leases of 3 s, renewed every second, and the run waits
// 2.5 s after saving, time for two renewals of a lease still kept.
TEST(FencedAnswerFiles, TheRunThatFinishesAPromptDoesNotReportItsLeaseLost) {
  const std::string base = testing_support::fresh_dir("finished-lease");
  const proto::JobSpec spec = job_in(base);
  Coordinator only(spec, {}, "only:1:0", 3.0);
  ASSERT_TRUE(only.start().ok());
  only.store().after_save = [] { std::this_thread::sleep_for(std::chrono::milliseconds(2500)); };
  auto outcomes = only.run();
  ASSERT_TRUE(outcomes.ok()) << outcomes.status().to_string();
  ASSERT_EQ(outcomes->size(), 1u);
  EXPECT_EQ(only.keeper_store().renewals_lost.load(), 0) << "the keeper renewed a lease its own run had ended";
}

}  // namespace
}  // namespace evosearch
