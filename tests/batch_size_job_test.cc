// `evosearch run` choosing its batch size (JobSpec.batch_size_policy): results.json records the
// choice, a pinned size is used exactly, and a resume reuses the size the job was created with.
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

TEST(BatchSizeJob, AutoRecordsTheMeasuredChoiceInResults) {
  const std::string spec = make_job("batch-auto", "");
  const auto r = testing_support::run_evosearch("run " + spec + " --threads 1");
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
  const auto again = testing_support::run_evosearch("run " + spec + " --threads 1");
  ASSERT_EQ(again.code, 0) << again.output;
  const proto::BatchSizeChoice reused = results_of(spec).totals().batch_size();  // a copy: the results are a temporary
  EXPECT_EQ(reused.source(), "job record");
  EXPECT_EQ(reused.chosen(), choice.chosen());
  EXPECT_EQ(reused.rates_size(), 0);
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
