// bench_quality's report: one row's scores per prompt, and the lines printed after each budget
// from them: the climb signal under an EvoSearch or lookahead row, the paired comparisons of each
// reference row with every other (bench/paired_stats.h), its goal line, the reward-hacking lines
// and the suite-budget lines. No tensors.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "evosearch/job.pb.h"

namespace evosearch::bench {

// One row's answers: per metric, per prompt, the mean over both seeds.
struct Row {
  std::string name;
  std::map<std::string, std::vector<double>> per_prompt;
  double calls = 0;  // model calls per prompt
};

// Whether `text` ends with `end` (and is longer).
bool ends_with(const std::string& text, const std::string& end);

// The row of `method` with the same budget kind as `row` ("@calls", "@seconds" or none), if run.
const Row* same_kind(const std::vector<Row>& rows, const std::string& method, const std::string& row);

// What a suite budget could share by, seen in runs split evenly (an EvoSearch or lookahead row
// with at least three evolution generations): over prompts and seeds, how the rise of the best
// reward in the second evolution generation (the suite budget's climb), the spread of the first
// generation's rewards and the best reward after the second generation go with the rise after it.
void print_climb_signal(const std::string& row, const std::vector<proto::JobResults>& runs);

// After each budget, for each reference row: it against every other row on every metric (prompts
// won, mean difference, the exact Wilcoxon signed-rank p over prompts and its verdict), and
// whether it meets the goal bench/RESULTS.md states at this budget. Then every row that raises the
// guidance reward over Best-of-N of its budget kind while another metric falls (reward hacking),
// and each "@suite" row against its "@calls" row.
void print_paired(const std::vector<Row>& rows, const std::vector<std::string>& references,
                  const std::vector<std::string>& metrics, int budget);

}  // namespace evosearch::bench
