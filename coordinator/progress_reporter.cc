#include "coordinator/progress_reporter.h"

#include <cstdio>

#include "common/logging.h"

namespace evosearch {

std::string format_seconds(double s) {
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%.1fs", s);
  return buf;
}

ProgressReporter::ProgressReporter(JobStore& store, std::string owner) : store_(store), owner_(std::move(owner)) {
  start();
}

void ProgressReporter::start(Clock::time_point now) {
  start_ = now;
  last_line_ = now - std::chrono::seconds(10);  // the first chance logs a line
}

Status ProgressReporter::generation_finished(uint32_t prompt, uint32_t generations_done, double best_so_far, int64_t nfe,
                                             double seconds) {
  ++generations_;
  proto::ProgressEvent event;
  event.set_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count());
  event.set_owner(owner_);
  event.set_prompt(prompt);
  event.set_generation(generations_done);
  event.set_best_fitness(best_so_far);
  event.set_nfe(nfe);
  event.set_seconds(seconds);
  return store_.append_progress(event);
}

std::string ProgressReporter::line(size_t finished, const std::vector<PromptProgress>& active, double elapsed) {
  double done = static_cast<double>(finished), left = 0;
  for (const PromptProgress& p : active) {
    const double fraction = double(p.generation) / p.generation_count;
    if (p.held) done += fraction;
    left += 1.0 - fraction;
  }
  std::string line = "[this run: " + std::to_string(finished) + " prompts done, " + format_seconds(elapsed) + " elapsed";
  // ETA of the prompts this run holds now, from its pace so far.
  if (done > 0) line += ", ETA " + format_seconds(elapsed / done * left);
  line += "]";
  for (const PromptProgress& p : active) {
    if (p.draining) continue;
    char best[32];
    std::snprintf(best, sizeof best, "%.3f", p.best);
    line += " '" + p.text + "' gen " + std::to_string(p.generation) + "/" + std::to_string(p.generation_count) + " best " +
            best + ";";
  }
  return line;
}

void ProgressReporter::log(size_t finished, const std::vector<PromptProgress>& active, Clock::time_point now) {
  last_line_ = now;
  spdlog::info("{}", line(finished, active, std::chrono::duration<double>(now - start_).count()));
}

RunTotals ProgressReporter::totals(const Executor& executor, const LoopSeconds& loop, Clock::time_point now) const {
  RunTotals t;
  t.wall_seconds = std::chrono::duration<double>(now - start_).count();
  t.model_seconds = executor.model_seconds();
  t.workers = executor.workers();
  t.coordinator_seconds = t.wall_seconds - loop.waiting;
  t.generations = generations_;
  t.traffic = executor.traffic();
  t.phases = executor.model_phases();
  t.phases.set_selection(loop.selection);
  t.phases.set_checkpoint(loop.checkpoint);
  t.phases.set_output(loop.output);
  return t;
}

}  // namespace evosearch
