// `evosearch run` choosing its batch size (JobSpec.batch_size_policy): results.json records the
// choice, a pinned size is used exactly, a resume reuses the size the job was created with, and a
// new job with the same bundle on this machine reuses the measured size (the profile cache).
#include <filesystem>
#include <fstream>
#include <string>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "common/atomic_file.h"
#include "evosearch/job_records.pb.h"
#include "job_results_file.h"
#include "run_evosearch.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

std::string make_job(const std::string& name, const std::string& extra) {
  const std::string dir = testing_support::fresh_dir(name);
  testing_support::TinyBundle().write(dir + "/bundle");
  std::ofstream(dir + "/suite.txt") << "a bag\na dark coat\na tiny dress\n";
  std::ofstream(dir + "/job.json") << R"({"bundle": "bundle", "prompts": "suite.txt", "output": "out", "seed": 2,
    "sampler": {"steps": 8}, "batch_size": 6,
    "search": {"method": "evosearch", "evolution_steps": [0, 4], "population": [6, 4, 4]})" << extra << "}";
  return dir + "/job.json";
}

using testing_support::results_of;

proto::JobResults output_of(const fs::path& output) {
  return testing_support::read_job_results((output / "results.json").string());
}

// Each test's own profile cache (EVOSEARCH_CACHE_DIR), so that a profile another run kept does
// not decide what these see.
std::string with_cache(const std::string& spec) {
  return "EVOSEARCH_CACHE_DIR=" + (fs::path(spec).parent_path() / "cache").string() + " ";
}

TEST(BatchSizeJob, AutoRecordsTheMeasuredChoiceInResults) {
  const std::string spec = make_job("batch-auto", "");
  const auto r = testing_support::run_evosearch_with(with_cache(spec), "run " + spec + " --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  const proto::JobResults results = results_of(spec);
  const proto::BatchSizeChoice& choice = results.totals().batch_size();
  EXPECT_EQ(choice.source(), "measured");
  EXPECT_GE(choice.chosen(), 1);
  EXPECT_LE(choice.chosen(), 6);
  ASSERT_GE(choice.rates_size(), 1);
  EXPECT_EQ(choice.rates(0).batch_size(), 1);
  bool chosen_was_measured = false;
  for (const proto::BatchSizeRate& rate : choice.rates()) {
    EXPECT_LE(rate.batch_size(), 6);
    EXPECT_GT(rate.nfe_per_second(), 0);
    chosen_was_measured = chosen_was_measured || rate.batch_size() == choice.chosen();
  }
  EXPECT_TRUE(chosen_was_measured);
  EXPECT_GT(results.totals().phases().calibration(), 0);
  EXPECT_EQ(results.spec().batch_size(), 6);  // the spec as given: the bound
  EXPECT_EQ(results.spec().batch_size_policy(), "auto");
  EXPECT_NE(r.output.find("batch size " + std::to_string(choice.chosen())), std::string::npos) << r.output;

  // The job record keeps the choice; running the job again measures nothing and uses it.
  const auto record = read_file((fs::path(spec).parent_path() / "out" / "state" / "job.json").string());
  ASSERT_TRUE(record.ok());
  proto::JobRecord stored;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*record, &stored).ok()) << *record;
  EXPECT_EQ(stored.batch_size(), choice.chosen());
  const auto again = testing_support::run_evosearch_with(with_cache(spec), "run " + spec + " --threads 1");
  ASSERT_EQ(again.code, 0) << again.output;
  const proto::BatchSizeChoice reused = results_of(spec).totals().batch_size();  // a copy: the results are a temporary
  EXPECT_EQ(reused.source(), "job record");
  EXPECT_EQ(reused.chosen(), choice.chosen());
  EXPECT_EQ(reused.rates_size(), 0);
}

TEST(BatchSizeJob, ANewJobWithTheSameBundleUsesTheKeptMeasurement) {
  const std::string spec = make_job("batch-profile", "");
  const std::string cache = with_cache(spec);
  const auto first = testing_support::run_evosearch_with(cache, "run " + spec + " --threads 1");
  ASSERT_EQ(first.code, 0) << first.output;
  const proto::BatchSizeChoice measured = results_of(spec).totals().batch_size();
  EXPECT_EQ(measured.source(), "measured");
  ASSERT_FALSE(measured.profile().empty());
  EXPECT_TRUE(fs::exists(measured.profile()));

  // Another job (new output folder, other prompts) with the same bundle and settings.
  const fs::path dir = fs::path(spec).parent_path();
  std::ofstream(dir / "other.txt") << "a red scarf\n";
  std::ofstream(dir / "other.json") << R"({"bundle": "bundle", "prompts": "other.txt", "output": "other", "seed": 5,
    "sampler": {"steps": 8}, "batch_size": 6,
    "search": {"method": "evosearch", "evolution_steps": [0, 4], "population": [6, 4, 4]}})";
  const std::string other = (dir / "other.json").string();
  const auto second = testing_support::run_evosearch_with(cache, "run " + other + " --threads 1");
  ASSERT_EQ(second.code, 0) << second.output;
  const proto::JobResults results = output_of(dir / "other");
  EXPECT_EQ(results.totals().batch_size().source(), "cached profile");
  EXPECT_EQ(results.totals().batch_size().chosen(), measured.chosen());
  EXPECT_EQ(results.totals().batch_size().profile(), measured.profile());
  EXPECT_EQ(results.totals().batch_size().rates_size(), measured.rates_size());
  EXPECT_EQ(results.totals().phases().calibration(), 0);
  EXPECT_NE(second.output.find("measured by an earlier job"), std::string::npos) << second.output;
  // Its record keeps the size, so its resumes use it whatever the profile says later.
  const auto record = read_file((dir / "other" / "state" / "job.json").string());
  ASSERT_TRUE(record.ok());
  proto::JobRecord stored;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*record, &stored).ok()) << *record;
  EXPECT_EQ(stored.batch_size(), measured.chosen());

  // "measure" measures again (and renews the profile); EVOSEARCH_CACHE_DIR=off neither reads
  // nor keeps one.
  const auto variant = [&](const std::string& name, const std::string& policy) {
    std::ofstream(dir / (name + ".json")) << R"({"bundle": "bundle", "prompts": "other.txt", "output": ")" << name
                                           << R"(", "sampler": {"steps": 8}, "batch_size": 6, "batch_size_policy": ")"
                                           << policy << R"(", "search": {"method": "best-of-n", "n": 4}})";
    return (dir / (name + ".json")).string();
  };
  const std::string measure = variant("measure", "measure");
  const auto third = testing_support::run_evosearch_with(cache, "run " + measure + " --threads 1");
  ASSERT_EQ(third.code, 0) << third.output;
  EXPECT_EQ(output_of(dir / "measure").totals().batch_size().source(), "measured");
  EXPECT_EQ(output_of(dir / "measure").totals().batch_size().profile(), measured.profile());
  EXPECT_GT(output_of(dir / "measure").totals().phases().calibration(), 0);

  const std::string off = variant("off", "auto");
  const auto fourth = testing_support::run_evosearch_with("EVOSEARCH_CACHE_DIR=off ", "run " + off + " --threads 1");
  ASSERT_EQ(fourth.code, 0) << fourth.output;
  EXPECT_EQ(output_of(dir / "off").totals().batch_size().source(), "measured");
  EXPECT_TRUE(output_of(dir / "off").totals().batch_size().profile().empty());
}

TEST(BatchSizeJob, FixedUsesTheSizeAsGivenAndMeasuresNothing) {
  const std::string spec = make_job("batch-fixed", R"(, "batch_size_policy": "fixed")");
  const auto r = testing_support::run_evosearch("run " + spec + " --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  const proto::JobResults results = results_of(spec);
  EXPECT_EQ(results.totals().batch_size().chosen(), 6);
  EXPECT_EQ(results.totals().batch_size().source(), "fixed");
  EXPECT_EQ(results.totals().batch_size().rates_size(), 0);
  EXPECT_EQ(results.totals().phases().calibration(), 0);
  EXPECT_NE(r.output.find("batch 6"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace evosearch
