// `evosearch run` with budget-only specs on a tiny bundle: the planned schedule is in
// results.json's spec and the printed summary, and the run costs exactly what was planned.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "evosearch/job.pb.h"
#include "common/atomic_file.h"
#include "job_results_file.h"
#include "run_evosearch.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

std::string make_job(const std::string& name, const std::string& search) {
  const std::string dir = testing_support::fresh_dir(name);
  testing_support::TinyBundle().write(dir + "/bundle");
  std::ofstream(dir + "/suite.txt") << "a bag\na dark coat\n";
  std::ofstream(dir + "/job.json") << R"({"bundle": "bundle", "prompts": "suite.txt", "output": "out", "seed": 3,
    "sampler": {"steps": 12}, "batch_size": 5, "search": )" << search << "}";
  return dir + "/job.json";
}

proto::JobResults read_results(const std::string& spec) {
  return testing_support::read_job_results((fs::path(spec).parent_path() / "out" / "results.json").string());
}

TEST(PlannedJob, LookaheadCostsWhatThePlannerSays) {
  for (const char* search : {R"({"method": "evosearch-lookahead", "model_calls_budget": 400})",
                             R"({"method": "evosearch-lookahead", "nfe_budget": 240})",
                             R"({"method": "evosearch", "model_calls_budget": 400})",
                             R"({"method": "particles", "model_calls_budget": 400})"}) {
    const std::string spec = make_job("planned-job", search);
    const auto r = testing_support::run_evosearch("run " + spec);
    ASSERT_EQ(r.code, 0) << r.output;
    const proto::JobResults results = read_results(spec);
    const proto::SearchPlan& plan = results.spec().search().plan();
    ASSERT_FALSE(plan.fields().empty()) << search;
    EXPECT_NE(r.output.find(plan.summary()), std::string::npos) << r.output;
    EXPECT_LE(plan.used(), plan.requested()) << search;
    // Every model call of the run, as the backend counted it, is what the plan predicted.
    EXPECT_EQ(results.totals().nfe(), 2 * plan.nfe()) << search;
    EXPECT_EQ(results.totals().nfe() + results.totals().decode_calls() + results.totals().reward_calls(),
              2 * plan.model_calls())
        << search;
    // The method describes itself for the report: the planned sizes, and as screening
    // generations exactly those scored before the last step (on the x0 prediction).
    const proto::MethodDescription& method = results.method_description();
    EXPECT_EQ(method.method(), results.spec().search().method());
    EXPECT_GT(method.settings_size(), 0) << search;
    const std::set<uint32_t> screening(method.screening_generations().begin(), method.screening_generations().end());
    ASSERT_EQ(results.prompts_size(), 2);
    for (const proto::GenerationRecord& g : results.prompts(0).generations()) {
      EXPECT_EQ(screening.count(g.generation()) > 0, g.end_step() < 12) << search << " generation " << g.generation();
    }
  }
}

TEST(PlannedJob, TwoBudgetsAreRefused) {
  const std::string spec = make_job("planned-two", R"({"method": "evosearch", "nfe_budget": 10, "model_calls_budget": 10})");
  const auto r = testing_support::run_evosearch("run " + spec);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("search.model_calls_budget"), std::string::npos) << r.output;
}

TEST(PlannedJob, ASecondsBudgetIsPlannedFromMeasuredCostsKeptForResumes) {
  const std::string spec = make_job("planned-seconds", R"({"method": "evosearch", "model_seconds_budget": 0.05})");
  const auto r = testing_support::run_evosearch("run " + spec + " --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  const proto::JobResults results = read_results(spec);
  const proto::SearchPlan& plan = results.spec().search().plan();
  EXPECT_EQ(plan.budget(), "model_seconds_budget");
  EXPECT_GT(plan.seconds_per_nfe(), 0);
  EXPECT_GT(plan.seconds_per_decode(), 0);
  EXPECT_GT(plan.seconds_per_reward(), 0);
  EXPECT_GE(plan.measured_batch(), 1);
  EXPECT_DOUBLE_EQ(plan.requested_seconds(), 0.05);
  EXPECT_GT(plan.used_seconds(), 0);
  EXPECT_NEAR(plan.used_seconds(), 1e-6 * plan.used(), 1e-9);
  // What it planned is what it costs at the measured prices, in the budget unless the smallest
  // search is larger.
  const double priced = plan.seconds_per_nfe() * plan.nfe() +
                        (plan.seconds_per_decode() + plan.seconds_per_reward()) * (plan.model_calls() - plan.nfe()) / 2;
  EXPECT_NEAR(plan.used_seconds(), priced, 2e-6 * plan.model_calls());
  if (plan.rounded() != "up") {
    EXPECT_LE(plan.used_seconds(), 0.05 + 1e-9);
  }
  EXPECT_GT(results.spec().search().population_size(), 0);
  EXPECT_NE(r.output.find("planned evosearch for model_seconds_budget 0.05 s"), std::string::npos) << r.output;
  EXPECT_EQ(results.totals().nfe(), 2 * plan.nfe());  // two prompts, each the planned search

  // Running it again is the same job: planned with the kept costs (a fresh measurement would
  // differ), not refused as another job.
  const auto again = testing_support::run_evosearch("run " + spec + " --threads 1");
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_NE(again.output.find("planning with the call costs this job was created with"), std::string::npos)
      << again.output;
  EXPECT_EQ(read_results(spec).spec().search().plan().seconds_per_nfe(), plan.seconds_per_nfe());

  // Another budget is another job.
  std::ofstream(spec) << R"({"bundle": "bundle", "prompts": "suite.txt", "output": "out", "seed": 3,
    "sampler": {"steps": 12}, "batch_size": 5, "search": {"method": "evosearch", "model_seconds_budget": 0.08}})";
  const auto other = testing_support::run_evosearch("run " + spec + " --threads 1");
  EXPECT_EQ(other.code, 1) << other.output;
  EXPECT_NE(other.output.find("model_seconds_budget"), std::string::npos) << other.output;
}

TEST(PlannedJob, ASecondsBudgetWithAnotherBudgetOrNotPositiveIsRefused) {
  for (const std::string& search : {std::string(R"({"model_seconds_budget": 2, "nfe_budget": 10})"),
                                    std::string(R"({"model_seconds_budget": -1})")}) {
    const std::string spec = make_job("planned-seconds-bad", search);
    const auto r = testing_support::run_evosearch("run " + spec);
    EXPECT_EQ(r.code, 1) << search;
    EXPECT_NE(r.output.find("search.model_seconds_budget"), std::string::npos) << r.output;
  }
}

// A suite budget on a bundle whose reward spreads over a prompt's candidates in proportion to
// the prompt's length (the tiny encoder's cond[:, 0] is length / 10), so prompts climb by
// different amounts.
std::string make_suite_job(const std::string& name, const std::string& search, int in_flight) {
  const std::string dir = testing_support::fresh_dir(name);
  testing_support::TinyBundle bundle;
  bundle.reward = testing_support::replaced(bundle.reward, "return pixels.flatten(1).mean(1) + cond[:, 0]",
                                            "return pixels.flatten(1).mean(1) * cond[:, 0] * 10.0");
  bundle.write(dir + "/bundle");
  std::ofstream(dir + "/suite.txt") << "a\na bag\na long dark winter coat with big buttons\nan ankle boot\n";
  std::ofstream(dir + "/job.json") << R"({"bundle": "bundle", "prompts": "suite.txt", "output": "out", "seed": 3,
    "sampler": {"steps": 12}, "batch_size": 5, "prompts_in_flight": )" << in_flight << R"(, "search": )" << search << "}";
  return dir + "/job.json";
}

int64_t model_calls(const proto::PromptOutcome& o) { return o.nfe() + o.decode_calls() + o.reward_calls(); }

TEST(SuiteBudgetJob, SharesAreSpentAndDoNotDependOnTheScheduling) {
  for (const char* method : {"evosearch", "evosearch-lookahead"}) {
    const std::string search = std::string(R"({"method": ")") + method + R"(", "suite_model_calls_budget": 2400})";
    // One prompt in flight: each parks after its first two evolution generations and the next is
    // claimed; all four at once: they park together.
    std::vector<proto::JobResults> runs;
    for (const int in_flight : {1, 4}) {
      const std::string spec = make_suite_job(std::string("suite-job-") + method + std::to_string(in_flight), search, in_flight);
      const auto r = testing_support::run_evosearch("run " + spec);
      ASSERT_EQ(r.code, 0) << r.output;
      EXPECT_NE(r.output.find("suite budget 2400: every prompt ran its first two evolution generations"), std::string::npos)
          << r.output;
      runs.push_back(read_results(spec));
    }
    const proto::JobResults& results = runs[0];
    EXPECT_EQ(results.spec().search().plan().budget(), "suite_model_calls_budget");
    EXPECT_EQ(results.spec().search().plan().requested(), 600);
    ASSERT_EQ(results.prompts_size(), 4);
    int64_t total = 0;
    for (const auto& p : results.prompts()) total += model_calls(p);
    EXPECT_LE(total, 2400) << method;
    EXPECT_EQ(total, results.totals().nfe() + results.totals().decode_calls() + results.totals().reward_calls());
    // Shared out, not split evenly: someone got more than an even share, someone less.
    int64_t least = model_calls(results.prompts(0)), most = least;
    for (const auto& p : results.prompts()) {
      least = std::min(least, model_calls(p));
      most = std::max(most, model_calls(p));
    }
    EXPECT_GT(most, 600) << method;
    EXPECT_LT(least, 550) << method;
    for (int p = 0; p < 4; ++p) {
      EXPECT_EQ(runs[1].prompts(p).nfe(), results.prompts(p).nfe()) << method << " prompt " << p;
      EXPECT_EQ(runs[1].prompts(p).generation(), results.prompts(p).generation()) << method << " prompt " << p;
      EXPECT_EQ(runs[1].prompts(p).candidate(), results.prompts(p).candidate()) << method << " prompt " << p;
      EXPECT_EQ(runs[1].prompts(p).scores().at("brightness"), results.prompts(p).scores().at("brightness"));
    }
  }
}

TEST(SuiteBudgetJob, OtherMethodsAndExplicitSchedulesAreRefused) {
  for (const char* search : {R"({"method": "best-of-n", "suite_model_calls_budget": 2400})",
                             R"({"method": "evosearch", "population": [4, 2], "evolution_steps": [3],
                                 "suite_model_calls_budget": 2400})",
                             R"({"method": "evosearch", "suite_model_calls_budget": 2400, "model_calls_budget": 600})"}) {
    const std::string spec = make_suite_job("suite-refused", search, 1);
    const auto r = testing_support::run_evosearch("run " + spec);
    EXPECT_EQ(r.code, 1) << search;
    EXPECT_NE(r.output.find("search.suite_model_calls_budget"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(fs::path(spec).parent_path() / "out" / "results.json"));
  }
}

}  // namespace
}  // namespace evosearch
