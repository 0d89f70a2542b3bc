#include "coordinator/job_status.h"

#include <algorithm>
#include <cstdio>

#include <google/protobuf/util/json_util.h>

namespace evosearch {
namespace {

std::string json_of(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

std::string duration(double s) {
  char buf[32];
  if (s < 0) return "unknown";
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%.0fs", s);
  return buf;
}

}  // namespace

StatusOr<JobStatusView> read_job_status(JobStore& store, int64_t now_unix_ms, double window_seconds) {
  JobStatusView v;
  v.as_of_unix_ms = now_unix_ms;
  ASSIGN_OR_RETURN(v.job, store.job());
  ASSIGN_OR_RETURN(v.prompts, store.prompts());
  for (const proto::PromptRecord& p : v.prompts) {
    switch (p.status()) {
      case proto::PROMPT_QUEUED: ++v.queued; break;
      case proto::PROMPT_RUNNING: ++v.running; break;
      case proto::PROMPT_DONE: ++v.done; break;
      case proto::PROMPT_FAILED: ++v.failed; break;
      default: break;
    }
  }
  ASSIGN_OR_RETURN(const std::vector<proto::ProgressEvent> events, store.progress(JobStore::kProgressLimit));
  const int64_t since = now_unix_ms - static_cast<int64_t>(window_seconds * 1000);
  std::vector<proto::ProgressEvent> recent;
  for (const auto& e : events) {
    if (e.unix_ms() >= since) recent.push_back(e);
  }
  if (recent.size() < 2) recent.assign(events.end() - std::min<size_t>(events.size(), 50), events.end());
  if (recent.size() >= 2) {
    const double span = (recent.back().unix_ms() - recent.front().unix_ms()) / 1000.0;
    if (span > 0) {
      int64_t nfe = 0;
      for (size_t i = 1; i < recent.size(); ++i) nfe += recent[i].nfe();  // the first event opens the window
      v.nfe_per_second = nfe / span;
      v.generations_per_second = (recent.size() - 1) / span;
    }
  }
  // Generations left; a prompt never checkpointed does not know its generation count yet and
  // counts as the average of those that do (or 1).
  double mean_count = 0;
  int known = 0;
  for (const auto& p : v.prompts) {
    if (p.generation_count() > 0) {
      mean_count += p.generation_count();
      ++known;
    }
  }
  mean_count = known ? mean_count / known : 1;
  double generations_left = 0;
  for (const auto& p : v.prompts) {
    if (p.status() != proto::PROMPT_QUEUED && p.status() != proto::PROMPT_RUNNING) continue;
    generations_left += p.generation_count() > 0 ? p.generation_count() - p.generation() : mean_count;
  }
  if (v.generations_per_second > 0) v.eta_seconds = generations_left / v.generations_per_second;
  if (v.queued + v.running == 0) v.eta_seconds = 0;
  return v;
}

std::string format_job_status(const JobStatusView& v, const std::string& where) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "job %s (%s): %s\n", v.job.name().c_str(), where.c_str(),
                proto::JobStatus_Name(v.job.status()).c_str());
  out += line;
  std::snprintf(line, sizeof line, "prompts: %zu  queued %d  running %d  done %d  failed %d\n", v.prompts.size(), v.queued,
                v.running, v.done, v.failed);
  out += line;
  std::snprintf(line, sizeof line, "throughput: %.1f NFE/s, %.2f generations/s (recent progress); ETA %s\n",
                v.nfe_per_second, v.generations_per_second, duration(v.eta_seconds).c_str());
  out += line;
  std::snprintf(line, sizeof line, "%-5s %-8s %-10s %-11s %-9s  %s\n", "#", "state", "generation", "best", "attempts",
                "owner / last error / prompt");
  out += line;
  for (const proto::PromptRecord& p : v.prompts) {
    std::string state = proto::PromptStatus_Name(p.status()).substr(7);  // "PROMPT_QUEUED" -> "QUEUED"
    std::string who = p.text();
    if (p.status() == proto::PROMPT_RUNNING) {
      const bool expired = p.lease_expires_unix_ms() < v.as_of_unix_ms;
      who = p.owner() + (expired ? " (lease expired)" : "") + "  " + p.text();
    } else if (p.status() == proto::PROMPT_FAILED) {
      who = p.last_error() + "  " + p.text();
    }
    char gen[32], best[32];
    std::snprintf(gen, sizeof gen, "%u/%u", p.generation(), p.generation_count());
    if (p.generation() > 0) {
      std::snprintf(best, sizeof best, "%.4f", p.best_fitness());
    } else {
      std::snprintf(best, sizeof best, "-");
    }
    std::snprintf(line, sizeof line, "%-5u %-8s %-10s %-11s %-9u  %s\n", p.prompt(), state.c_str(), gen, best, p.attempts(),
                  who.c_str());
    out += line;
  }
  // In full, however long: the table's line may cut a long error short.
  for (const proto::PromptRecord& p : v.prompts) {
    if (p.status() != proto::PROMPT_FAILED) continue;
    out += "failed prompt " + std::to_string(p.prompt()) + " '" + p.text() + "' after " + std::to_string(p.attempts()) +
           " attempt" + (p.attempts() == 1 ? "" : "s") + ": " + p.last_error() + "\n";
  }
  return out;
}

std::string job_status_json(const JobStatusView& v) {
  std::string out = "{\"job\": " + json_of(v.job) + ", \"prompts\": [";
  for (size_t i = 0; i < v.prompts.size(); ++i) out += (i ? ", " : "") + json_of(v.prompts[i]);
  char tail[256];
  std::snprintf(tail, sizeof tail,
                "], \"queued\": %d, \"running\": %d, \"done\": %d, \"failed\": %d, \"nfe_per_second\": %.6g, "
                "\"generations_per_second\": %.6g, \"eta_seconds\": %.6g, \"as_of_unix_ms\": %lld}\n",
                v.queued, v.running, v.done, v.failed, v.nfe_per_second, v.generations_per_second, v.eta_seconds,
                static_cast<long long>(v.as_of_unix_ms));
  return out + tail;
}

}  // namespace evosearch
