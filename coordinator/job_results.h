// What a job writes for people and tools: results.json (every prompt's answer, whichever
// coordinator searched it, with per-metric statistics and this run's totals), the same numbers
// in the official EvoSearch code's layout (results-official.json), the report page
// (report.html), and the summary table printed at the end.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "coordinator/executor.h"
#include "evosearch/job.pb.h"
#include "jobs/job_store.h"

namespace evosearch {

// This run's own counters (a job shared by several coordinators has one set per run).
struct RunTotals {
  double wall_seconds = 0;
  double model_seconds = 0;
  int workers = 1;
  double coordinator_seconds = 0;  // the job loop's own time (not waiting for rollouts)
  int generations = 0;             // prompt-generations completed in this run
  TrafficStats traffic;
  proto::PhaseSeconds phases;
};

// Results of `outcomes` (prompt order); NFE, reward and decoder calls are summed over them.
// `method` is the searcher's describe(), which the report page shows.
proto::JobResults make_results(const proto::JobSpec& spec, const proto::MethodDescription& method,
                               const std::vector<proto::PromptOutcome>& outcomes, const RunTotals& run);

// Writes results.json, results-official.json and report.html into the output folder (each
// registered with the store first, so --restart removes them).
Status write_job_outputs(const proto::JobResults& results, const std::string& output_dir, JobStore& store);

// Writes only the report page (while the job runs, so it can be watched).
Status write_report_page(const proto::JobResults& results, const std::string& output_dir, JobStore& store);

std::string summary_table(const proto::JobResults& results);

// Protobuf JSON as results.json has it: field names as in the .proto, defaults printed.
std::string to_json(const google::protobuf::Message& message);

}  // namespace evosearch
