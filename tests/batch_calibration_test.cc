// Choosing the batch size from measured throughput (worker/batch_calibration.h), with fake
// timings, and how a job spec's batch_size_policy picks it (coordinator/job_setup.h).
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "coordinator/job_setup.h"
#include "coordinator/job_spec.h"
#include "tiny_bundle.h"
#include "worker/batch_calibration.h"

namespace evosearch {
namespace {

// A timer answering from a table of seconds per call by batch size, counting its calls.
struct FakeTimer {
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
  FakeTimer fake{{{1, 0.01}, {2, 0.01}, {4, 0.01}, {8, 0.01}, {12, 0.02}, {16, 0.001}}};
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
  FakeTimer fake{{{1, 0.01}, {2, 0.01}, {4, 0.01}, {8, 0.01}, {16, 0.02 / 1.02}}};
  BatchCalibrationOptions options;
  options.max_batch = 16;
  EXPECT_EQ(calibrate_batch_size(fake.timer(), options)->chosen, 8);
  fake.seconds[16] = 0.02 / 1.05;
  EXPECT_EQ(calibrate_batch_size(fake.timer(), options)->chosen, 16);
}

TEST(BatchCalibration, APinnedBoundOfOneNeedsNoChoice) {
  FakeTimer fake{{{1, 0.01}}};
  BatchCalibrationOptions options;
  options.max_batch = 1;
  EXPECT_EQ(calibrate_batch_size(fake.timer(), options)->chosen, 1);
}

TEST(BatchCalibration, StopsBeforeASizeThatWouldPassTheBudget) {
  // 0.1 s per call at batch 1: the budget is 24 such calls (2.4 s). Sizes 1 and 2 cost 0.3 + 0.6
  // s; 4 would add about 1.2 (2.1 in all), 8 another 2.4: not tried.
  FakeTimer fake{{{1, 0.1}, {2, 0.2}, {4, 0.4}, {8, 0.1}, {16, 0.1}}};
  BatchCalibrationOptions options;
  options.max_batch = 16;
  const auto result = calibrate_batch_size(fake.timer(), options);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->rates.size(), 3u);
  EXPECT_EQ(fake.calls.count(8), 0u);
  EXPECT_EQ(result->chosen, 1);  // equal rates: the smallest
}

TEST(BatchCalibration, StopsOnceTheRateFallsWellBelowTheBest) {
  FakeTimer fake{{{1, 0.01}, {2, 0.01}, {4, 0.08}, {8, 0.0001}}};
  BatchCalibrationOptions options;
  options.max_batch = 8;
  const auto result = calibrate_batch_size(fake.timer(), options);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(fake.calls.count(8), 0u);
  EXPECT_EQ(result->chosen, 2);
}

TEST(BatchCalibration, AFailureAtALargerSizeEndsTheMeasurementAndAtTheFirstIsAnError) {
  FakeTimer fake{{{1, 0.01}, {2, 0.01}}};  // 4 fails (out of memory, say)
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
  FakeTimer fake{{{1, 1.0}, {2, 0.01}}};
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
  FakeTimer fake{{{1, 0.01}, {2, 0.01}, {4, 0.01}, {6, 0.03}, {8, 0.001}}};
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

}  // namespace
}  // namespace evosearch
