// Choosing the batch size from measured throughput (worker/batch_calibration.h), with fake
// timings, how a job spec's batch_size_policy picks it (coordinator/job_setup.h), and the
// batch-size profile cache that keeps a measurement for later jobs (coordinator/batch_profile.h).
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/atomic_file.h"
#include "coordinator/batch_profile.h"
#include "coordinator/job_setup.h"
#include "coordinator/job_spec.h"
#include "tiny_bundle.h"
#include "worker/batch_calibration.h"

namespace evosearch {
namespace {

// A timer answering from a table of seconds per call by batch size, counting its calls.
struct FakeTimer {
  explicit FakeTimer(std::map<int, double> table = {}) : seconds(std::move(table)) {}
  std::map<int, double> seconds;
  std::map<int, int> calls;
  BatchTimer timer() {
    return [this](int batch) -> StatusOr<double> {
      ++calls[batch];
      const auto it = seconds.find(batch);
      if (it == seconds.end()) return Internal("no timing for batch " + std::to_string(batch));
      return it->second;
    };
  }
};

TEST(BatchCalibration, CandidatesArePowersOfTwoBelowTheBoundAndTheBound) {
  EXPECT_EQ(candidate_batch_sizes(1), std::vector<int>({1}));
  EXPECT_EQ(candidate_batch_sizes(3), std::vector<int>({1, 2, 3}));
  EXPECT_EQ(candidate_batch_sizes(32), std::vector<int>({1, 2, 4, 8, 16, 32}));
  EXPECT_EQ(candidate_batch_sizes(12), std::vector<int>({1, 2, 4, 8, 12}));
}

TEST(BatchCalibration, ChoosesTheFastestPerNfeWithinTheBound) {
  // Rates: 1 -> 100, 2 -> 200, 4 -> 400, 8 -> 800, 12 -> 600 NFE/s.
  FakeTimer fake({{1, 0.01}, {2, 0.01}, {4, 0.01}, {8, 0.01}, {12, 0.02}, {16, 0.001}});
  BatchCalibrationOptions options;
  options.max_batch = 12;
  const auto result = calibrate_batch_size(fake.timer(), options);
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  EXPECT_EQ(result->chosen, 8);
  ASSERT_EQ(result->rates.size(), 5u);
  EXPECT_EQ(result->rates.back().batch, 12);
  EXPECT_DOUBLE_EQ(result->rates[3].nfe_per_second, 800);
  EXPECT_EQ(fake.calls.count(16), 0u) << "16 is over the bound and must never run";
  // One warm-up call and two timed calls per size.
  EXPECT_EQ(fake.calls.at(1), 3);
}

TEST(BatchCalibration, TheFastestOfTheRepetitionsCounts) {
  int call = 0;
  const BatchTimer noisy = [&](int batch) -> StatusOr<double> {
    ++call;
    return batch == 1 ? 0.01 : (call % 3 == 2 ? 0.5 : 0.004);  // one slow call at batch 2, not the warm-up
  };
  BatchCalibrationOptions options;
  options.max_batch = 2;
  const auto result = calibrate_batch_size(noisy, options);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->chosen, 2);
  EXPECT_DOUBLE_EQ(result->rates[1].nfe_per_second, 2 / 0.004);
}

TEST(BatchCalibration, NearTiesGoToTheSmallerSize) {
  // 16 is 2% faster than 8: within the 3% tolerance, so 8 wins; 5% faster would not be.
  FakeTimer fake({{1, 0.01}, {2, 0.01}, {4, 0.01}, {8, 0.01}, {16, 0.02 / 1.02}});
  BatchCalibrationOptions options;
  options.max_batch = 16;
  EXPECT_EQ(calibrate_batch_size(fake.timer(), options)->chosen, 8);
  fake.seconds[16] = 0.02 / 1.05;
  EXPECT_EQ(calibrate_batch_size(fake.timer(), options)->chosen, 16);
}

TEST(BatchCalibration, APinnedBoundOfOneNeedsNoChoice) {
  FakeTimer fake({{1, 0.01}});
  BatchCalibrationOptions options;
  options.max_batch = 1;
  EXPECT_EQ(calibrate_batch_size(fake.timer(), options)->chosen, 1);
}

TEST(BatchCalibration, StopsBeforeASizeThatWouldPassTheBudget) {
  // 0.1 s per call at batch 1: the budget is 24 such calls (2.4 s). The timed calls of sizes 1, 2
  // and 4 cost 0.2 + 0.4 + 0.8 s; 8 would add about 1.6 (3.0 in all): not tried.
  FakeTimer fake({{1, 0.1}, {2, 0.2}, {4, 0.4}, {8, 0.1}, {16, 0.1}});
  BatchCalibrationOptions options;
  options.max_batch = 16;
  const auto result = calibrate_batch_size(fake.timer(), options);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->rates.size(), 3u);
  EXPECT_EQ(fake.calls.count(8), 0u);
  EXPECT_EQ(result->chosen, 1);  // equal rates: the smallest
}

TEST(BatchCalibration, StopsOnceTheRateFallsWellBelowTheBest) {
  FakeTimer fake({{1, 0.01}, {2, 0.01}, {4, 0.041}, {8, 0.0001}});  // 4: under half the best rate
  BatchCalibrationOptions options;
  options.max_batch = 8;
  const auto result = calibrate_batch_size(fake.timer(), options);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(fake.calls.count(8), 0u);
  EXPECT_EQ(result->chosen, 2);
}

TEST(BatchCalibration, AFailureAtALargerSizeEndsTheMeasurementAndAtTheFirstIsAnError) {
  FakeTimer fake({{1, 0.01}, {2, 0.01}});  // 4 fails (out of memory, say)
  BatchCalibrationOptions options;
  options.max_batch = 8;
  const auto result = calibrate_batch_size(fake.timer(), options);
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  EXPECT_EQ(result->chosen, 2);
  EXPECT_EQ(fake.calls.count(8), 0u);

  FakeTimer broken;
  const auto failed = calibrate_batch_size(broken.timer(), options);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("batch 1"), std::string::npos) << failed.status().message();
}

// --- The policy, on a real (tiny) bundle ----------------------------------------------------------

class BatchSizePolicy : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing_support::fresh_dir("batch-size-policy");
    testing_support::TinyBundle().write(dir_ + "/bundle");
    auto bundle = Bundle::open(dir_ + "/bundle", at::kCPU);
    ASSERT_TRUE(bundle.ok()) << bundle.status().to_string();
    bundle_ = std::move(*bundle);
  }

  proto::JobSpec spec(const std::string& extra) const {
    auto parsed = parse_job_spec(R"({"bundle": "bundle", "prompts": "suite.txt", "output": "out", "batch_size": 6)" +
                                     extra + "}",
                                 "job.json", dir_);
    EXPECT_TRUE(parsed.ok()) << parsed.status().to_string();
    return parsed.ok() ? *parsed : proto::JobSpec();
  }

  std::string dir_;
  std::unique_ptr<Bundle> bundle_;
};

TEST_F(BatchSizePolicy, AutoIsTheDefaultAndUnknownPoliciesAreRefused) {
  EXPECT_EQ(spec("").batch_size_policy(), "auto");
  const auto bad = parse_job_spec(R"({"bundle": "b", "prompts": "p.txt", "output": "o", "batch_size_policy": "fast"})",
                                  "job.json", dir_);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("batch_size_policy"), std::string::npos) << bad.status().message();
}

TEST_F(BatchSizePolicy, FixedIsHonouredExactlyWithoutMeasuring) {
  FakeTimer fake({{1, 1.0}, {2, 0.01}});
  double seconds = -1;
  const auto choice = choose_batch_size(spec(R"(, "batch_size_policy": "fixed")"), *bundle_, RunOptions{}, seconds,
                                        fake.timer());
  ASSERT_TRUE(choice.ok()) << choice.status().to_string();
  EXPECT_EQ(choice->chosen(), 6);
  EXPECT_EQ(choice->source(), "fixed");
  EXPECT_EQ(choice->rates_size(), 0);
  EXPECT_TRUE(fake.calls.empty());
  EXPECT_EQ(seconds, 0);
}

TEST_F(BatchSizePolicy, AutoMeasuresWithinTheBound) {
  // Fastest per NFE at 4; 8 would be faster still but is over the bound of 6.
  FakeTimer fake({{1, 0.01}, {2, 0.01}, {4, 0.01}, {6, 0.03}, {8, 0.001}});
  double seconds = -1;
  const auto choice = choose_batch_size(spec(""), *bundle_, RunOptions{}, seconds, fake.timer());
  ASSERT_TRUE(choice.ok()) << choice.status().to_string();
  EXPECT_EQ(choice->chosen(), 4);
  EXPECT_EQ(choice->source(), "measured");
  ASSERT_EQ(choice->rates_size(), 4);
  EXPECT_EQ(choice->rates(3).batch_size(), 6);
  EXPECT_DOUBLE_EQ(choice->rates(2).nfe_per_second(), 400);
  EXPECT_GE(seconds, 0);
  EXPECT_EQ(fake.calls.count(8), 0u);
}

TEST_F(BatchSizePolicy, AFailedMeasurementFallsBackToTheBound) {
  FakeTimer broken;
  double seconds = -1;
  const auto choice = choose_batch_size(spec(""), *bundle_, RunOptions{}, seconds, broken.timer());
  ASSERT_TRUE(choice.ok()) << choice.status().to_string();
  EXPECT_EQ(choice->chosen(), 6);
  EXPECT_EQ(choice->source(), "fixed");
}

TEST_F(BatchSizePolicy, TheDenoiserTimerRunsTheBundlesModel) {
  const auto sampler = sampler_config(spec(""), bundle_->manifest());
  ASSERT_TRUE(sampler.ok());
  const auto schedule = make_schedule(bundle_->manifest(), *sampler);
  ASSERT_TRUE(schedule.ok());
  const BatchTimer timer = denoiser_timer(*bundle_, *schedule, 2.0);
  for (int batch : {1, 3}) {
    const auto seconds = timer(batch);
    ASSERT_TRUE(seconds.ok()) << seconds.status().to_string();
    EXPECT_GE(*seconds, 0);
  }
}

// --- The batch-size profile cache ---------------------------------------------------------------

class BatchProfile : public BatchSizePolicy {
 protected:
  RunOptions with_cache() const {
    RunOptions options;
    options.batch_profiles = dir_ + "/cache";
    return options;
  }
  std::vector<std::string> profiles() const {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/cache/batch-sizes", ec)) {
      files.push_back(entry.path().string());
    }
    return files;
  }
  // The fastest per NFE at 4 (see AutoMeasuresWithinTheBound).
  std::map<int, double> timings_ = {{1, 0.01}, {2, 0.01}, {4, 0.01}, {6, 0.03}};
};

TEST_F(BatchProfile, AMeasurementIsKeptAndTheNextJobUsesItWithoutMeasuring) {
  FakeTimer first(timings_);
  double seconds = -1;
  const auto measured = choose_batch_size(spec(""), *bundle_, with_cache(), seconds, first.timer());
  ASSERT_TRUE(measured.ok()) << measured.status().to_string();
  EXPECT_EQ(measured->source(), "measured");
  EXPECT_EQ(measured->chosen(), 4);
  ASSERT_EQ(profiles().size(), 1u);
  EXPECT_EQ(measured->profile(), profiles()[0]);

  FakeTimer second;  // any call fails: nothing may be measured
  const auto cached = choose_batch_size(spec(""), *bundle_, with_cache(), seconds, second.timer());
  ASSERT_TRUE(cached.ok()) << cached.status().to_string();
  EXPECT_TRUE(second.calls.empty());
  EXPECT_EQ(seconds, 0);
  EXPECT_EQ(cached->source(), "cached profile");
  EXPECT_EQ(cached->chosen(), 4);
  EXPECT_EQ(cached->profile(), profiles()[0]);
  ASSERT_EQ(cached->rates_size(), measured->rates_size());  // what was measured, for results.json
  EXPECT_DOUBLE_EQ(cached->rates(2).nfe_per_second(), 400);

  // Without a cache folder nothing is read.
  FakeTimer third(timings_);
  const auto uncached = choose_batch_size(spec(""), *bundle_, RunOptions{}, seconds, third.timer());
  ASSERT_TRUE(uncached.ok());
  EXPECT_EQ(uncached->source(), "measured");
  EXPECT_TRUE(uncached->profile().empty());
}

TEST_F(BatchProfile, OtherSettingsOrAChangedModelAreMeasuredAgain) {
  FakeTimer first(timings_);
  double seconds = -1;
  ASSERT_TRUE(choose_batch_size(spec(""), *bundle_, with_cache(), seconds, first.timer()).ok());

  // Another bound, guidance off, and a model re-exported (its file changed): each a new profile.
  for (const std::string& extra : {std::string(R"(, "batch_size": 5)"), std::string(R"(, "sampler": {"guidance_scale": 1})")}) {
    FakeTimer again({{1, 0.01}, {2, 0.01}, {4, 0.01}, {5, 0.03}, {6, 0.03}});
    const auto choice = choose_batch_size(spec(extra), *bundle_, with_cache(), seconds, again.timer());
    ASSERT_TRUE(choice.ok()) << extra;
    EXPECT_EQ(choice->source(), "measured") << extra;
    EXPECT_FALSE(again.calls.empty()) << extra;
  }
  EXPECT_EQ(profiles().size(), 3u);
  const std::string denoiser = dir_ + "/bundle/" + bundle_->manifest().denoiser();
  std::filesystem::last_write_time(denoiser, std::filesystem::last_write_time(denoiser) + std::chrono::seconds(5));
  FakeTimer after(timings_);
  const auto choice = choose_batch_size(spec(""), *bundle_, with_cache(), seconds, after.timer());
  ASSERT_TRUE(choice.ok());
  EXPECT_EQ(choice->source(), "measured");
  EXPECT_EQ(profiles().size(), 4u);
}

TEST_F(BatchProfile, MeasurePolicyMeasuresAgainAndRenewsTheProfile) {
  FakeTimer first(timings_);
  double seconds = -1;
  const auto kept = choose_batch_size(spec(""), *bundle_, with_cache(), seconds, first.timer());
  ASSERT_TRUE(kept.ok());
  // The device got faster at 6 since: "measure" sees it and keeps the new choice for "auto".
  FakeTimer faster({{1, 0.01}, {2, 0.01}, {4, 0.01}, {6, 0.001}});
  const auto renewed = choose_batch_size(spec(R"(, "batch_size_policy": "measure")"), *bundle_, with_cache(), seconds,
                                         faster.timer());
  ASSERT_TRUE(renewed.ok()) << renewed.status().to_string();
  EXPECT_EQ(renewed->source(), "measured");
  EXPECT_EQ(renewed->chosen(), 6);
  EXPECT_FALSE(faster.calls.empty());
  FakeTimer none;
  const auto cached = choose_batch_size(spec(""), *bundle_, with_cache(), seconds, none.timer());
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(cached->source(), "cached profile");
  EXPECT_EQ(cached->chosen(), 6);
  EXPECT_EQ(profiles().size(), 1u);
}

TEST_F(BatchProfile, ABrokenOrForeignProfileIsMeasuredAgainAndReplaced) {
  FakeTimer first(timings_);
  double seconds = -1;
  const auto kept = choose_batch_size(spec(""), *bundle_, with_cache(), seconds, first.timer());
  ASSERT_TRUE(kept.ok());
  const std::string path = kept->profile();
  const auto original = read_file(path);
  ASSERT_TRUE(original.ok());

  std::string other_key = *original;  // a profile for another device under this key's name
  const size_t device = other_key.find("\"device\": \"");
  ASSERT_NE(device, std::string::npos) << other_key;
  other_key.insert(device + 11, "another ");
  std::string unmeasured = *original;  // a chosen size that was never measured
  const size_t chosen = unmeasured.find("\"chosen\": 4");
  ASSERT_NE(chosen, std::string::npos) << unmeasured;
  unmeasured.replace(chosen, 12, "\"chosen\": 3");
  for (const std::string& bytes : {std::string("{\"key\": [oops"), other_key, unmeasured}) {
    ASSERT_TRUE(write_file_atomic(path, bytes).ok());
    FakeTimer again(timings_);
    const auto choice = choose_batch_size(spec(""), *bundle_, with_cache(), seconds, again.timer());
    ASSERT_TRUE(choice.ok()) << bytes;
    EXPECT_EQ(choice->source(), "measured") << bytes;
    EXPECT_EQ(choice->chosen(), 4);
    const auto replaced = read_file(path);
    ASSERT_TRUE(replaced.ok());
    EXPECT_EQ(replaced->find("another"), std::string::npos);
    FakeTimer none;
    EXPECT_EQ(choose_batch_size(spec(""), *bundle_, with_cache(), seconds, none.timer())->source(), "cached profile");
  }
}

TEST_F(BatchProfile, AFolderThatCannotBeWrittenCostsOnlyTheProfile) {
  std::ofstream(dir_ + "/cache") << "a file where the folder should be";
  FakeTimer first(timings_);
  double seconds = -1;
  const auto choice = choose_batch_size(spec(""), *bundle_, with_cache(), seconds, first.timer());
  ASSERT_TRUE(choice.ok()) << choice.status().to_string();
  EXPECT_EQ(choice->source(), "measured");
  EXPECT_EQ(choice->chosen(), 4);
  EXPECT_TRUE(choice->profile().empty());
}

TEST(BatchProfileFolder, ComesFromTheEnvironmentInOrder) {
  const auto with_env = [](const char* cache, const char* xdg, const char* home) {
    const auto set = [](const char* name, const char* value) { value ? setenv(name, value, 1) : unsetenv(name); };
    set("EVOSEARCH_CACHE_DIR", cache);
    set("XDG_CACHE_HOME", xdg);
    set("HOME", home);
    return batch_profile_folder();
  };
  const char* home = std::getenv("HOME");
  const std::string saved_home = home ? home : "";
  EXPECT_EQ(with_env("/c", "/x", "/h"), "/c");
  EXPECT_EQ(with_env("off", "/x", "/h"), "");
  EXPECT_EQ(with_env(nullptr, "/x", "/h"), "/x/evosearch");
  EXPECT_EQ(with_env(nullptr, nullptr, "/h"), "/h/.cache/evosearch");
  EXPECT_EQ(with_env(nullptr, nullptr, nullptr), "");
  with_env(nullptr, nullptr, saved_home.empty() ? nullptr : saved_home.c_str());
}

}  // namespace
}  // namespace evosearch
