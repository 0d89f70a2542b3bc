#include "report/report.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "common/atomic_file.h"
#include "report/report_html.h"
#include "report/reported_job.h"
#include "report/report_stats.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;
using report::bundle_of;
using report::category_section;
using report::escape_html;
using report::format_duration;
using report::format_value;
using report::kThumbBox;
using report::key_cell;
using report::method_of;
using report::method_title;
using report::metric_heading;
using report::metric_names;
using report::per_prompt;
using report::Row;
using report::run_body;
using report::RunView;
using report::settings_rows;
using report::split_categories;

std::string comparison_section(const std::vector<RunView>& views, const std::vector<std::string>& metrics) {
  std::string h =
      "<section id=\"comparison\"><h2>Method comparison</h2><div class=\"tablewrap\"><table class=\"data\">"
      "<thead><tr><th></th>";
  for (const RunView& v : views) {
    h += "<th class=\"num\">" + escape_html(v.label()) + "<br><span class=\"note\">" +
         escape_html(method_title(v.results())) + "</span></th>";
  }
  h += "</tr></thead><tbody>";
  for (const std::string& m : metrics) {
    double best = -INFINITY;
    for (const RunView& v : views) {
      const auto it = v.results().metrics().find(m);
      if (it != v.results().metrics().end() && std::isfinite(it->second.mean()))
        best = std::max(best, it->second.mean());
    }
    h += "<tr><th>" + metric_heading(m, views[0].rewards()) + "</th>";
    for (const RunView& v : views) {
      const auto it = v.results().metrics().find(m);
      if (it == v.results().metrics().end()) {
        h += "<td class=\"num\">-</td>";
        continue;
      }
      h += std::string("<td class=\"num") + (it->second.mean() == best ? " best" : "") + "\">" +
           format_value(it->second.mean()) + " &plusmn; " + format_value(it->second.std()) + "</td>";
    }
    h += "</tr>";
  }
  const auto row = [&](const std::string& name, auto cell) {
    h += "<tr><th>" + escape_html(name) + "</th>";
    for (const RunView& v : views) h += "<td class=\"num\">" + cell(v.results()) + "</td>";
    h += "</tr>";
  };
  row("prompts", [](const proto::JobResults& r) { return std::to_string(r.prompts_size()); });
  row("NFE per prompt", [](const proto::JobResults& r) { return per_prompt(r.totals().nfe(), r.prompts_size()); });
  row("reward calls per prompt",
      [](const proto::JobResults& r) { return per_prompt(r.totals().reward_calls(), r.prompts_size()); });
  row("decoder calls per prompt",
      [](const proto::JobResults& r) { return per_prompt(r.totals().decode_calls(), r.prompts_size()); });
  row("wall time", [](const proto::JobResults& r) { return format_duration(r.totals().wall_seconds()); });
  row("workers", [](const proto::JobResults& r) { return std::to_string(r.totals().workers()); });
  h += "</tbody></table></div><p class=\"note\">Mean &plusmn; std over prompts (std divides by the number of prompts); "
       "bold: the highest mean. Reward and decoder calls are the search's own; the final scoring of each answer by "
       "every "
       "metric is not counted.</p></section>";
  return h;
}

// Settings of all runs in one table. A row only some runs have goes after the row it follows
// in those runs, so each method's rows stay together.
std::string runs_section(const std::vector<RunView>& views) {
  std::vector<Row> keys;  // every run's keys, each with the doc of the first run that has it
  std::vector<std::map<std::string, std::string>> values;
  for (const RunView& v : views) {
    values.emplace_back();
    size_t next = 0;  // where a new key goes: after the last one this run had
    for (const Row& row : settings_rows(v.results())) {
      auto at = std::find_if(keys.begin(), keys.end(), [&](const Row& k) { return k.key == row.key; });
      if (at == keys.end()) at = keys.insert(keys.begin() + static_cast<std::ptrdiff_t>(next), {row.key, "", row.doc});
      next = static_cast<size_t>(at - keys.begin()) + 1;
      values.back()[row.key] = row.value;
    }
  }
  std::string h =
      "<section id=\"runs\"><h2>Runs</h2><div class=\"tablewrap\"><table class=\"data\"><thead><tr><th></th>";
  for (const RunView& v : views) h += "<th>" + escape_html(v.label()) + "</th>";
  h += "</tr></thead><tbody>";
  for (const Row& key : keys) {
    h += "<tr>" + key_cell("th", key);
    for (const auto& run_values : values) {
      const auto it = run_values.find(key.key);
      h += "<td>" + (it == run_values.end() ? std::string("-") : escape_html(it->second)) + "</td>";
    }
    h += "</tr>";
  }
  return h + "</tbody></table></div></section>";
}

// Each prompt's answers side by side; prompts are matched by index and text.
std::string side_by_side_section(std::vector<RunView>& views) {
  std::vector<std::pair<uint32_t, std::string>> order;
  std::vector<std::map<std::pair<uint32_t, std::string>, const proto::PromptOutcome*>> by_key(views.size());
  for (size_t r = 0; r < views.size(); ++r) {
    for (const proto::PromptOutcome& p : views[r].results().prompts()) {
      const auto key = std::make_pair(p.index(), p.prompt());
      if (std::find(order.begin(), order.end(), key) == order.end()) order.push_back(key);
      by_key[r][key] = &p;
    }
  }
  std::string h =
      "<section id=\"side-by-side\"><h2>Answers side by side</h2><div class=\"tablewrap\"><table class=\"data side\">"
      "<thead><tr><th>prompt</th>";
  for (const RunView& v : views) h += "<th>" + escape_html(v.label()) + "</th>";
  h += "</tr></thead><tbody>";
  for (const auto& key : order) {
    const proto::PromptOutcome* first = nullptr;
    for (const auto& runs : by_key) {
      if (!first && runs.count(key)) first = runs.at(key);
    }
    h += "<tr><td class=\"ptext\"><span class=\"idx\">" + std::to_string(key.first) + "</span>" +
         escape_html(key.second);
    for (const std::string& c : split_categories(first->category())) {
      h += "<span class=\"chip\">" + escape_html(c) + "</span>";
    }
    h += "</td>";
    for (size_t r = 0; r < views.size(); ++r) {
      const auto it = by_key[r].find(key);
      if (it == by_key[r].end()) {
        h += "<td>-</td>";
        continue;
      }
      const proto::PromptOutcome& p = *it->second;
      h += "<td><a href=\"#" + views[r].id() + "-p" + std::to_string(p.index()) + "\">" +
           views[r].thumbnail(p, kThumbBox) + "</a><div class=\"scoreline\">";
      bool first_score = true;
      for (const auto& [name, value] : std::map<std::string, double>(p.scores().begin(), p.scores().end())) {
        const bool guidance = name == views[r].rewards().guidance;
        h += std::string(first_score ? "" : " &middot; ") + escape_html(name) + " " + (guidance ? "<b>" : "") +
             format_value(value) + (guidance ? "</b>" : "");
        first_score = false;
      }
      h += "</div></td>";
    }
    h += "</tr>";
  }
  return h +
         "</tbody></table></div><p class=\"note\">Bold: the guidance reward. Click an answer for its search history "
         "below.</p></section>";
}

// Names on the page: the given label, else the job's name; repeats get the method, then a number.
std::vector<std::string> run_labels(const std::vector<ReportedJob>& runs) {
  std::vector<std::string> labels;
  for (const ReportedJob& run : runs) {
    std::string label = run.label.empty() ? run.results.name() : run.label;
    if (label.empty()) label = fs::path(run.output_dir).lexically_normal().filename().string();
    labels.push_back(label.empty() ? "run" : label);
  }
  const auto repeated = [&](size_t i) { return std::count(labels.begin(), labels.end(), labels[i]) > 1; };
  std::vector<bool> again(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) again[i] = repeated(i);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (again[i] && runs[i].label.empty()) labels[i] += " (" + method_of(runs[i].results) + ")";
  }
  for (size_t i = 0; i < labels.size(); ++i) again[i] = repeated(i);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (again[i]) labels[i] += " #" + std::to_string(i + 1);
  }
  return labels;
}

}  // namespace

StatusOr<ReportedJob> load_reported_job(const std::string& output_dir) {
  const std::string path = (fs::path(output_dir) / "results.json").string();
  StatusOr<std::string> text = read_file(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return NotFound(path + ": not found; `evosearch run` writes it when the job has finished");
    }
    return text.status();
  }
  ReportedJob run;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  const auto parsed = google::protobuf::util::JsonStringToMessage(*text, &run.results, options);
  if (!parsed.ok()) {
    return DataLoss(path + ": not a results file: " + std::string(parsed.message()) +
                    " (see JobResults in proto/job.proto)");
  }
  run.output_dir = output_dir;
  return run;
}

Status write_report(const std::vector<ReportedJob>& runs, const std::string& html_path) {
  if (runs.empty()) return InvalidArgument("report " + html_path + ": expected at least one job's results");
  const fs::path page = fs::absolute(html_path).lexically_normal();
  const std::vector<std::string> labels = run_labels(runs);
  std::vector<RunView> views;
  for (size_t i = 0; i < runs.size(); ++i)
    views.emplace_back(runs[i], labels[i], page.parent_path(), static_cast<int>(i));

  const bool several = views.size() > 1;
  std::string title, subtitle, body, nav;
  if (several) {
    for (const RunView& v : views) title += (title.empty() ? "" : " vs ") + v.label();
    subtitle = std::to_string(views.size()) + " runs compared";
    const std::vector<std::string> metrics = metric_names(views);
    const std::string categories = category_section(views, metrics, "categories");
    body = runs_section(views) + comparison_section(views, metrics) + categories + side_by_side_section(views);
    body += "<section id=\"details\"><h2>Each run</h2>";
    for (RunView& v : views) {
      body += "<details class=\"run\" id=\"" + v.id() + "\"><summary>" + escape_html(v.label()) + " &middot; " +
              escape_html(method_title(v.results())) + "</summary>" + run_body(v) + "</details>";
    }
    body += "</section>";
    nav = "<a href=\"#runs\">Runs</a><a href=\"#comparison\">Comparison</a>" +
          std::string(categories.empty() ? "" : "<a href=\"#categories\">Categories</a>") +
          "<a href=\"#side-by-side\">Side by side</a><a href=\"#details\">Each run</a>";
  } else {
    RunView& v = views[0];
    title = v.label();
    const proto::JobResults& r = v.results();
    subtitle = escape_html(method_title(r));
    const std::string bundle = bundle_of(r);
    if (!bundle.empty())
      subtitle += " &middot; " + escape_html(fs::path(bundle).lexically_normal().filename().string());
    subtitle += " &middot; " + std::to_string(r.prompts_size()) + " prompts &middot; " +
                per_prompt(r.totals().nfe(), r.prompts_size()) + " NFE per prompt";
    body = run_body(v);
    nav =
        "<a href=\"#r0-settings\">Settings</a><a href=\"#r0-metrics\">Metrics</a>" +
        std::string(body.find("id=\"r0-categories\"") != std::string::npos ? "<a href=\"#r0-categories\">Categories</a>"
                                                                           : "") +
        "<a href=\"#r0-prompts\">Prompts</a>";
  }

  std::string warnings;
  for (const RunView& v : views) {
    for (const std::string& w : v.warnings())
      warnings += "<li>" + escape_html((several ? v.label() + ": " : "") + w) + "</li>";
  }
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      // Nothing may load from the network: media come from files next to the page.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src 'self' file: data:; "
      "media-src 'self' file:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
      "<title>" +
      escape_html(title) + " &middot; evosearch report</title><style>" + report::kPageStyle +
      "</style></head><body><header class=\"top\"><h1>" + escape_html(title) + "</h1><p class=\"sub\">" + subtitle +
      "</p><nav>" + nav + "</nav></header><main><div id=\"media-banner\" class=\"warn\" hidden></div>";
  if (!warnings.empty()) {
    html += "<div class=\"warn\"><strong>Not shown:</strong><ul>" + warnings + "</ul></div>";
  }
  html += body +
          "</main><footer>Written by evosearch report. Images and videos are linked relative to this page; "
          "keep the output folders beside it when moving it.</footer><script>" +
          report::kPageScript + "</script></body></html>\n";
  return write_file_atomic(page.string(), html);
}

}  // namespace evosearch
