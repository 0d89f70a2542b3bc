#include "coordinator/job_results.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include <google/protobuf/util/json_util.h>

#include "common/atomic_file.h"
#include "jobs/redis_url.h"
#include "media/official_results.h"
#include "report/report.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

proto::MetricStats stats_of(const std::vector<double>& v) {
  proto::MetricStats s;
  if (v.empty()) return s;
  double sum = 0, sq = 0;
  double lo = v[0], hi = v[0];
  for (double x : v) {
    sum += x;
    sq += x * x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  const double mean = sum / v.size();
  s.set_mean(mean);
  s.set_std(std::sqrt(std::max(0.0, sq / v.size() - mean * mean)));
  s.set_min(lo);
  s.set_max(hi);
  return s;
}

}  // namespace

std::string to_json(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

proto::JobResults make_results(const proto::JobSpec& spec, const proto::MethodDescription& method,
                               const std::vector<proto::PromptOutcome>& outcomes, const RunTotals& run) {
  proto::JobResults r;
  r.set_name(spec.name());
  r.set_method(spec.search().method());
  r.set_bundle(spec.bundle());
  *r.mutable_spec() = spec;
  r.mutable_spec()->set_job_store(redact_job_store_url(spec.job_store()));  // results.json is no place for a password
  *r.mutable_method_description() = method;
  proto::Totals* totals = r.mutable_totals();
  std::map<std::string, std::vector<double>> per_metric;
  for (const proto::PromptOutcome& o : outcomes) {
    totals->set_nfe(totals->nfe() + o.nfe());
    totals->set_reward_calls(totals->reward_calls() + o.reward_calls());
    totals->set_decode_calls(totals->decode_calls() + o.decode_calls());
    *r.add_prompts() = o;
    for (const auto& [name, value] : o.scores()) per_metric[name].push_back(value);
  }
  totals->set_wall_seconds(run.wall_seconds);
  totals->set_model_seconds(run.model_seconds);
  totals->set_workers(run.workers);
  totals->set_coordinator_seconds(run.coordinator_seconds);
  totals->set_generations(run.generations);
  totals->set_state_moves(run.traffic.state_moves);
  totals->set_state_move_bytes(run.traffic.state_move_bytes);
  totals->set_checkpoint_bytes(run.traffic.shard_bytes);
  totals->set_coordinator_bytes_in(run.traffic.coordinator_bytes_in);
  *totals->mutable_phases() = run.phases;
  for (const auto& [name, values] : per_metric) (*r.mutable_metrics())[name] = stats_of(values);
  return r;
}

Status write_report_page(const proto::JobResults& results, const std::string& output_dir, JobStore& store) {
  RETURN_IF_ERROR(store.add_outputs({"report.html"}));
  ReportedJob run;
  run.results = results;
  run.output_dir = output_dir;
  return write_report({run}, (fs::path(output_dir) / "report.html").string());
}

Status write_job_outputs(const proto::JobResults& results, const std::string& output_dir, JobStore& store) {
  RETURN_IF_ERROR(store.add_outputs({"results.json", "results-official.json"}));
  RETURN_IF_ERROR(write_file_atomic((fs::path(output_dir) / "results.json").string(), to_json(results)));
  RETURN_IF_ERROR(write_official_results(results, (fs::path(output_dir) / "results-official.json").string()));
  return write_report_page(results, output_dir, store);
}

std::string summary_table(const proto::JobResults& r) {
  std::ostringstream out;
  std::vector<std::string> metrics;
  for (const auto& [name, stats] : r.metrics()) metrics.push_back(name);
  std::sort(metrics.begin(), metrics.end());
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-4s %-36s %8s", "#", "prompt", "nfe");
  out << buf;
  for (const auto& m : metrics) {
    std::snprintf(buf, sizeof buf, " %14s", m.c_str());
    out << buf;
  }
  out << "\n";
  for (const auto& p : r.prompts()) {
    const std::string text = p.prompt().size() > 36 ? p.prompt().substr(0, 33) + "..." : p.prompt();
    std::snprintf(buf, sizeof buf, "%-4u %-36s %8lld", p.index(), text.c_str(), static_cast<long long>(p.nfe()));
    out << buf;
    for (const auto& m : metrics) {
      std::snprintf(buf, sizeof buf, " %14.4f", p.scores().at(m));
      out << buf;
    }
    out << "\n";
  }
  for (const char* row : {"mean", "std"}) {
    std::snprintf(buf, sizeof buf, "%-41s %8s", row, "");
    out << buf;
    for (const auto& m : metrics) {
      const auto& s = r.metrics().at(m);
      std::snprintf(buf, sizeof buf, " %14.4f", std::string(row) == "mean" ? s.mean() : s.std());
      out << buf;
    }
    out << "\n";
  }
  std::snprintf(buf, sizeof buf, "method %s: %lld NFE, %lld reward calls, %lld decoder calls, %.1f s\n", r.method().c_str(),
                static_cast<long long>(r.totals().nfe()), static_cast<long long>(r.totals().reward_calls()),
                static_cast<long long>(r.totals().decode_calls()), r.totals().wall_seconds());
  out << buf;
  if (r.spec().search().has_plan()) out << r.spec().search().plan().summary() << "\n";
  for (const proto::FailedPrompt& f : r.failed()) {
    out << "FAILED " << f.index() << " '" << f.prompt() << "' after " << f.attempts() << " attempt"
        << (f.attempts() == 1 ? "" : "s") << ": " << f.error() << "\n";
  }
  return out.str();
}

}  // namespace evosearch
