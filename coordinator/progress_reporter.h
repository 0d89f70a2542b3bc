// What this run tells about its progress: a line in the log at most once a second (prompts done,
// time elapsed, an ETA from this run's pace, each searched prompt's generation and best fitness),
// a ProgressEvent in the job store for every finished generation (evosearch status and the report
// read them), and at the end this run's totals (the summary in results.json: wall and coordinator
// time, generations, model and job-loop phases, traffic).
// Called by the job loop's thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "coordinator/executor.h"
#include "coordinator/job_results.h"
#include "jobs/job_store.h"

namespace evosearch {

// A prompt this run searches, as the progress line shows it.
struct PromptProgress {
  std::string text;
  uint32_t generation = 0;        // generations finished
  uint32_t generation_count = 1;  // of the search
  double best = 0;                // best fitness so far
  bool held = true;               // this run holds its lease (its pace counts toward the ETA)
  bool draining = false;          // its lease is lost; the generation in flight finishes unlisted
};

// The job loop's own seconds: waiting for the executor, and its serial phases (PhaseSeconds).
struct LoopSeconds {
  double waiting = 0;
  double selection = 0;   // inside the searchers
  double checkpoint = 0;  // shards and checkpoint records
  double output = 0;      // answer files and grids
};

// "12.3s", "4m05s", "2h07m".
std::string format_seconds(double seconds);

class ProgressReporter {
 public:
  using Clock = std::chrono::steady_clock;

  ProgressReporter(JobStore& store, std::string owner);

  // The run starts now: elapsed time and the first progress line count from here.
  void start(Clock::time_point now = Clock::now());

  // A prompt's generation finished (`generations_done` of them now): counts it and appends its
  // ProgressEvent to the job store.
  Status generation_finished(uint32_t prompt, uint32_t generations_done, double best_so_far, int64_t nfe,
                             double seconds);

  // Whether a second has passed since the last progress line.
  bool line_due(Clock::time_point now = Clock::now()) const { return now - last_line_ > std::chrono::seconds(1); }
  // Logs the progress line (line() below, with the time elapsed since start()).
  void log(size_t finished, const std::vector<PromptProgress>& active, Clock::time_point now = Clock::now());

  // The line: `finished` prompts done by this run, `active` the prompts it searches now.
  static std::string line(size_t finished, const std::vector<PromptProgress>& active, double elapsed_seconds);

  // This run's totals so far; `loop` is the job loop's own seconds.
  RunTotals totals(const Executor& executor, const LoopSeconds& loop, Clock::time_point now = Clock::now()) const;

  int generations() const { return generations_; }

 private:
  JobStore& store_;
  const std::string owner_;
  Clock::time_point start_;
  Clock::time_point last_line_;
  int generations_ = 0;  // prompt-generations finished in this run
};

}  // namespace evosearch
