// `evosearch run` with budget-only specs on a tiny bundle: the planned schedule is in
// results.json's spec and the printed summary, and the run costs exactly what was planned.
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

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

}  // namespace
}  // namespace evosearch
