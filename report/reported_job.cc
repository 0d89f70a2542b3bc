#include "report/reported_job.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

#include "evosearch/bundle.pb.h"
#include "common/atomic_file.h"
#include "report/report_html.h"
#include "report/report_stats.h"
#include "report/report_svg.h"

namespace evosearch::report {
namespace {

namespace fs = std::filesystem;

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Width and height from a PNG's IHDR or a GIF's screen descriptor; {0, 0} for anything else.
std::pair<int, int> image_size(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  unsigned char b[24] = {};
  in.read(reinterpret_cast<char*>(b), sizeof b);
  const auto got = in.gcount();
  if (got >= 24 && std::memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) {
    const auto be32 = [&](int at) { return (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]; };
    return {be32(16), be32(20)};
  }
  if (got >= 10 && std::memcmp(b, "GIF8", 4) == 0) return {b[6] | (b[7] << 8), b[8] | (b[9] << 8)};
  return {0, 0};
}

// The guidance reward and the rewards' descriptions, from the bundle's manifest when it can
// still be read where the job found it.
RewardInfo reward_info(const proto::JobResults& r, const fs::path& output_dir) {
  RewardInfo info;
  const std::string bundle = bundle_of(r);
  if (bundle.empty()) {
    info.note = "the results do not name the bundle";
    return info;
  }
  fs::path manifest_path = fs::path(bundle) / "manifest.json";
  if (manifest_path.is_relative() && !fs::exists(manifest_path)) manifest_path = output_dir / manifest_path;
  StatusOr<std::string> text = read_file(manifest_path.string());
  proto::BundleManifest manifest;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!text.ok() || !google::protobuf::util::JsonStringToMessage(*text, &manifest, options).ok()) {
    info.note = "the bundle's manifest " + manifest_path.string() + " could not be read";
    return info;
  }
  for (const proto::RewardSpec& reward : manifest.rewards()) {
    if (reward.guidance() && info.guidance.empty()) info.guidance = reward.name();
    if (!reward.description().empty()) info.descriptions[reward.name()] = reward.description();
  }
  if (info.guidance.empty()) info.note = "the bundle's manifest marks no guidance reward";
  return info;
}

// width and height that fit the image into `box`: a whole multiple of its size when it is
// small (drawn with sharp pixels), scaled down when it is large.
std::string size_attributes(const Asset& a, Box box) {
  if (a.width <= 0 || a.height <= 0) return " style=\"max-width:" + std::to_string(box.width) + "px\"";
  const double fit = std::min(static_cast<double>(box.width) / a.width, static_cast<double>(box.height) / a.height);
  const double scale = fit >= 1 ? std::floor(fit) : fit;
  const auto w = std::max(1L, std::lround(a.width * scale)), h = std::max(1L, std::lround(a.height * scale));
  return " width=\"" + std::to_string(w) + "\" height=\"" + std::to_string(h) + "\"" +
         (scale > 1 ? " class=\"px\"" : "");
}

std::string img_tag(const Asset& a, const std::string& alt, Box box, bool lazy) {
  return "<img src=\"" + a.href + "\" alt=\"" + escape_html(alt) + "\"" + size_attributes(a, box) +
         (lazy ? " loading=\"lazy\">" : ">");
}

// One value of a scalar field as people read it ("0.9", "yes", "max").
std::string field_text(const google::protobuf::Message& m, const google::protobuf::FieldDescriptor* f, int index) {
  using Field = google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* refl = m.GetReflection();
  const bool repeated = f->is_repeated();
  switch (f->cpp_type()) {
    case Field::CPPTYPE_INT32:
      return std::to_string(repeated ? refl->GetRepeatedInt32(m, f, index) : refl->GetInt32(m, f));
    case Field::CPPTYPE_INT64:
      return std::to_string(repeated ? refl->GetRepeatedInt64(m, f, index) : refl->GetInt64(m, f));
    case Field::CPPTYPE_UINT32:
      return std::to_string(repeated ? refl->GetRepeatedUInt32(m, f, index) : refl->GetUInt32(m, f));
    case Field::CPPTYPE_UINT64:
      return std::to_string(repeated ? refl->GetRepeatedUInt64(m, f, index) : refl->GetUInt64(m, f));
    case Field::CPPTYPE_DOUBLE: return number(repeated ? refl->GetRepeatedDouble(m, f, index) : refl->GetDouble(m, f));
    case Field::CPPTYPE_FLOAT: return number(repeated ? refl->GetRepeatedFloat(m, f, index) : refl->GetFloat(m, f));
    case Field::CPPTYPE_BOOL:
      return (repeated ? refl->GetRepeatedBool(m, f, index) : refl->GetBool(m, f)) ? "yes" : "no";
    case Field::CPPTYPE_STRING: return repeated ? refl->GetRepeatedString(m, f, index) : refl->GetString(m, f);
    case Field::CPPTYPE_ENUM: return (repeated ? refl->GetRepeatedEnum(m, f, index) : refl->GetEnum(m, f))->name();
    case Field::CPPTYPE_MESSAGE: break;
  }
  return "";
}

// Results written before methods described themselves: the spec's search fields that are set,
// by their names in the spec, whatever the method.
void spec_search_rows(const proto::SearchSpec& s, std::vector<Row>& rows) {
  const google::protobuf::Descriptor* d = s.GetDescriptor();
  const google::protobuf::Reflection* refl = s.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = d->field(i);
    // The method is the Method row; the plan, the row above.
    if (f->name() == "method" || f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    std::string value;
    if (f->is_repeated()) {
      for (int j = 0; j < refl->FieldSize(s, f); ++j) value += (j == 0 ? "" : ", ") + field_text(s, f, j);
      if (value.empty()) continue;
    } else {
      if (!refl->HasField(s, f)) continue;
      value = field_text(s, f, 0);
    }
    rows.push_back({f->name(), value, "search." + f->name() + " in the spec"});
  }
}

std::vector<Row> totals_rows(const proto::JobResults& r) {
  const proto::Totals& t = r.totals();
  const int n = r.prompts_size();
  std::vector<Row> rows = {
      {"NFE", format_count(t.nfe()) + " (" + per_prompt(t.nfe(), n) + " per prompt)"},
      {"Reward calls", format_count(t.reward_calls()) + " (" + per_prompt(t.reward_calls(), n) + " per prompt)"},
      {"Decoder calls", format_count(t.decode_calls()) + " (" + per_prompt(t.decode_calls(), n) + " per prompt)"},
      {"Wall time", format_duration(t.wall_seconds())},
      {"Model time", format_duration(t.model_seconds()) + " (all workers)"},
      {"Coordinator time", format_duration(t.coordinator_seconds())},
      {"Workers", std::to_string(t.workers())},
      {"Generations", format_count(t.generations()) + " (this run, all prompts)"},
  };
  if (t.state_moves() > 0) {
    rows.push_back({"State moves", format_count(t.state_moves()) + " (" + format_bytes(t.state_move_bytes()) + ")"});
  }
  if (t.checkpoint_bytes() > 0) rows.push_back({"Checkpoint traffic", format_bytes(t.checkpoint_bytes())});
  return rows;
}

std::string key_values(const std::vector<Row>& rows) {
  std::string h = "<dl class=\"kv\">";
  for (const Row& row : rows) h += key_cell("dt", row) + "<dd>" + escape_html(row.value) + "</dd>";
  return h + "</dl>";
}

std::string metrics_section(const RunView& v) {
  const RewardInfo& rewards = v.rewards();
  std::string h = "<section id=\"" + v.id() +
                  "-metrics\"><h2>Metrics</h2><div class=\"tablewrap\"><table class=\"data\">"
                  "<thead><tr><th>metric</th><th class=\"num\">mean</th><th class=\"num\">std</th>"
                  "<th class=\"num\">min</th><th class=\"num\">max</th><th>higher means</th></tr></thead><tbody>";
  for (const auto& [name, s] :
       std::map<std::string, proto::MetricStats>(v.results().metrics().begin(), v.results().metrics().end())) {
    const auto description = rewards.descriptions.find(name);
    h += "<tr><th>" + metric_heading(name, rewards) + "</th><td class=\"num\">" + format_value(s.mean()) +
         "</td><td class=\"num\">" + format_value(s.std()) + "</td><td class=\"num\">" + format_value(s.min()) +
         "</td><td class=\"num\">" + format_value(s.max()) + "</td><td>" +
         (description == rewards.descriptions.end() ? "" : escape_html(description->second)) + "</td></tr>";
  }
  h += "</tbody></table></div><p class=\"note\">Over the answers of all prompts; std divides by the number of prompts.";
  if (!rewards.note.empty()) h += " Guidance reward not marked: " + escape_html(rewards.note) + ".";
  return h + "</p></section>";
}

std::string generations_details(RunView& v, const proto::PromptOutcome& p) {
  std::string h = "<details class=\"gens\"><summary>Generations (" + std::to_string(p.generations_size()) +
                  "): grids and every candidate's fitness</summary>";
  int last_step = 0;
  for (const proto::GenerationRecord& g : p.generations()) last_step = std::max(last_step, g.end_step());
  bool reached_end = false;  // best-so-far means nothing before the first final sample
  for (const proto::GenerationRecord& g : p.generations()) {
    double top = -INFINITY;
    for (const double f : g.fitness()) top = std::max(top, f);
    reached_end = reached_end || g.end_step() == last_step;
    h += "<div class=\"gen\"><h4>Generation " + std::to_string(g.generation()) + "<span>steps " +
         std::to_string(g.start_step()) + " &rarr; " + std::to_string(g.end_step()) + " &middot; " +
         std::to_string(g.fitness_size()) + " candidates" +
         (screening_generation(v.results(), p, g) ? " scored on their x0 prediction" : "") +
         (reached_end ? " &middot; best so far " + format_value(g.best_so_far()) : std::string()) + "</span></h4>";
    const std::string where = "prompt " + std::to_string(p.index()) + " generation " + std::to_string(g.generation());
    h += v.image(g.grid(), where + " grid", where + " grid", kGridBox, true);
    h += "<ol class=\"fit\">";
    for (int i = 0; i < g.fitness_size(); ++i) {
      const bool answer = g.generation() == p.generation() && static_cast<uint32_t>(i) == p.candidate();
      std::string cls = answer ? "answer" : g.fitness(i) == top ? "top" : "";
      h += "<li" + (cls.empty() ? "" : " class=\"" + cls + "\"") + (answer ? " title=\"the answer\"" : "") + "><b>" +
           std::to_string(i) + "</b>" + format_value(g.fitness(i)) + "</li>";
    }
    h += "</ol></div>";
  }
  return h + "</details>";
}

std::string prompt_card(RunView& v, const proto::PromptOutcome& p) {
  const RewardInfo& rewards = v.rewards();
  std::string h = "<article class=\"prompt\" id=\"" + v.id() + "-p" + std::to_string(p.index()) +
                  "\"><h3><span class=\"idx\">" + std::to_string(p.index()) + "</span>" + escape_html(p.prompt());
  for (const std::string& c : split_categories(p.category())) h += "<span class=\"chip\">" + escape_html(c) + "</span>";
  h += "</h3><div class=\"pbody\"><div class=\"media\"><figure>" + v.answer_media(p, kAnswerBox) + "<figcaption>" +
       (p.video().empty() ? "best image" : "best video") + ": generation " + std::to_string(p.generation()) +
       ", candidate " + std::to_string(p.candidate()) + "</figcaption></figure></div><div class=\"info\">";
  h += "<table class=\"data scores\"><thead><tr><th>metric</th><th class=\"num\">score</th></tr></thead><tbody>";
  for (const auto& [name, value] : std::map<std::string, double>(p.scores().begin(), p.scores().end())) {
    h += "<tr><th>" + metric_heading(name, rewards) + "</th><td class=\"num\">" + format_value(value) + "</td></tr>";
  }
  h += "</tbody></table><p class=\"meta\">NFE " + format_count(p.nfe()) + " &middot; reward calls " +
       format_count(p.reward_calls()) + " &middot; decoder calls " + format_count(p.decode_calls()) + "</p>";
  const std::vector<proto::GenerationRecord> generations(p.generations().begin(), p.generations().end());
  h += fitness_plot_svg(fitness_series(generations), rewards.guidance.empty() ? "guidance reward" : rewards.guidance);
  h += "</div></div>";
  if (!p.video().empty() && !p.image().empty()) {
    h += "<figure class=\"strip\">" +
         v.image(p.image(), "prompt " + std::to_string(p.index()) + " frames", "frames of: " + p.prompt(), kStripBox) +
         "<figcaption>frames, left to right</figcaption></figure>";
  }
  if (p.generations_size() > 0) h += generations_details(v, p);
  return h + "</article>";
}

}  // namespace

std::string per_prompt(int64_t total, int prompts) {
  if (prompts <= 0) return "-";
  if (total % prompts == 0) return format_count(total / prompts);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(total) / prompts);
  return buf;
}

std::string method_of(const proto::JobResults& r) {
  return r.method().empty() ? r.spec().search().method() : r.method();
}

std::string method_title(const proto::JobResults& r) {
  const std::string& title = r.method_description().title();
  return title.empty() ? method_of(r) : title;
}

std::string bundle_of(const proto::JobResults& r) { return r.spec().bundle().empty() ? r.bundle() : r.spec().bundle(); }

RunView::RunView(const ReportedJob& run, std::string label, const fs::path& page_dir, int index)
    : run_(run),
      label_(std::move(label)),
      dir_(fs::absolute(run.output_dir).lexically_normal()),
      page_dir_(page_dir),
      id_("r" + std::to_string(index)),
      rewards_(reward_info(run.results, dir_)) {}

std::optional<Asset> RunView::asset(const std::string& path, const std::string& what) {
  if (!stays_inside(path)) {
    warn(what + ": the path '" + path + "' leaves the output folder; not linked");
    return std::nullopt;
  }
  const fs::path file = (dir_ / path).lexically_normal();
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    warn(what + ": " + file.string() + " not found");
    return std::nullopt;
  }
  Asset a;
  a.href = escape_html(url_path(file.lexically_relative(page_dir_).generic_string()));
  std::tie(a.width, a.height) = image_size(file.string());
  return a;
}

std::string RunView::image(const std::string& path, const std::string& what, const std::string& alt, Box box,
                           bool lazy) {
  if (path.empty()) return "";
  const std::optional<Asset> a = asset(path, what);
  if (!a) return "<div class=\"missing\">" + escape_html(what) + " not available</div>";
  return img_tag(*a, alt, box, lazy);
}

std::string RunView::answer_media(const proto::PromptOutcome& p, Box box) {
  const std::string where = "prompt " + std::to_string(p.index());
  const std::string alt = "answer to: " + p.prompt();
  if (p.video().empty()) return image(p.image(), where + " image", alt, box);
  const std::optional<Asset> video = asset(p.video(), where + " video");
  const std::optional<Asset> preview = p.preview().empty() ? std::nullopt : asset(p.preview(), where + " preview");
  if (!video) {
    if (preview) return img_tag(*preview, alt, box, false);
    return "<div class=\"missing\">" + escape_html(where) + " video not available</div>";
  }
  std::string h = "<video controls loop muted playsinline preload=\"metadata\"";
  if (preview) h += " poster=\"" + preview->href + "\"" + size_attributes(*preview, box);
  h += "><source src=\"" + video->href + "\" type=\"video/mp4\">";
  if (preview) h += img_tag(*preview, alt, box, false);
  return h + "</video>";
}

std::string RunView::thumbnail(const proto::PromptOutcome& p, Box box) {
  const std::string where = "prompt " + std::to_string(p.index());
  if (!p.preview().empty()) return image(p.preview(), where + " preview", "answer to: " + p.prompt(), box);
  return image(p.image(), where + " image", "answer to: " + p.prompt(), box);
}

// Once per problem, though a file may be shown in several places.
void RunView::warn(const std::string& warning) {
  if (std::find(warnings_.begin(), warnings_.end(), warning) == warnings_.end()) warnings_.push_back(warning);
}

std::vector<Row> settings_rows(const proto::JobResults& r) {
  const proto::JobSpec& spec = r.spec();
  const proto::SearchSpec& s = spec.search();
  std::vector<Row> rows;
  rows.push_back({"Method", method_title(r)});
  const std::string bundle = bundle_of(r);
  if (!bundle.empty()) rows.push_back({"Bundle", bundle});
  if (!spec.prompts().empty()) {
    rows.push_back({"Prompts", fs::path(spec.prompts()).filename().string() + " (" + std::to_string(r.prompts_size()) +
                                   " prompts)"});
  } else {
    rows.push_back({"Prompts", std::to_string(r.prompts_size())});
  }
  const proto::SamplerSpec& sampler = spec.sampler();
  std::vector<std::string> parts;
  parts.push_back(sampler.sampler().empty() ? "bundle's sampler" : sampler.sampler());
  if (sampler.steps() > 0) parts.push_back(std::to_string(sampler.steps()) + " steps");
  if (sampler.order() > 0) parts.push_back("order " + std::to_string(sampler.order()));
  if (sampler.has_eta()) parts.push_back("eta " + number(sampler.eta()));
  if (sampler.has_shift()) parts.push_back("shift " + number(sampler.shift()));
  if (sampler.has_guidance_scale()) parts.push_back("CFG " + number(sampler.guidance_scale()));
  std::string sampler_text;
  for (const std::string& part : parts) sampler_text += (sampler_text.empty() ? "" : ", ") + part;
  rows.push_back({"Sampler", sampler_text});
  if (r.has_method_description()) {
    if (s.nfe_budget() > 0) rows.push_back({"NFE budget", format_count(s.nfe_budget()), "per prompt"});
    if (s.model_calls_budget() > 0) {
      rows.push_back({"Model-call budget", format_count(s.model_calls_budget()),
                      "per prompt: denoiser, decoder and reward calls"});
    }
    if (s.model_seconds_budget() > 0) {
      rows.push_back({"Model-time budget", number(s.model_seconds_budget()) + " s",
                      "per prompt: seconds of model time at the call costs measured on the device"});
    }
    if (s.suite_model_calls_budget() > 0) {
      rows.push_back({"Suite budget", format_count(s.suite_model_calls_budget()),
                      "model calls for the whole suite, shared out after every prompt's first two evolution "
                      "generations; the settings below are an even share's, each prompt's calls are on its card"});
    }
    if (s.has_plan()) rows.push_back({"Planned from the budget", s.plan().summary()});
    for (const proto::MethodSetting& setting : r.method_description().settings()) {
      rows.push_back({setting.label(), setting.value(), setting.doc()});
    }
  } else {
    if (s.has_plan()) rows.push_back({"Planned from the budget", s.plan().summary()});
    spec_search_rows(s, rows);
  }
  rows.push_back({"Seed", std::to_string(spec.seed())});
  if (spec.batch_size() > 0) rows.push_back({"Batch size", std::to_string(spec.batch_size())});
  if (spec.prompts_in_flight() > 0) rows.push_back({"Prompts in flight", std::to_string(spec.prompts_in_flight())});
  if (!spec.device().empty()) rows.push_back({"Device", spec.device()});
  rows.push_back({"Generation grids", spec.generation_grids() ? "yes" : "no"});
  return rows;
}

bool screening_generation(const proto::JobResults& r, const proto::PromptOutcome& p, const proto::GenerationRecord& g) {
  if (r.has_method_description()) {
    const auto& screening = r.method_description().screening_generations();
    return std::find(screening.begin(), screening.end(), g.generation()) != screening.end();
  }
  // Older results: a rollout that stopped before the last step was scored on its x0 prediction.
  int last_step = 0;
  for (const proto::GenerationRecord& other : p.generations()) last_step = std::max(last_step, other.end_step());
  return g.end_step() < last_step;
}

std::string key_cell(const std::string& tag, const Row& row) {
  return "<" + tag + (row.doc.empty() ? "" : " title=\"" + escape_html(row.doc) + "\"") + ">" + escape_html(row.key) +
         "</" + tag + ">";
}

std::string metric_heading(const std::string& name, const RewardInfo& rewards) {
  std::string h = escape_html(name);
  if (name == rewards.guidance) h += "<span class=\"badge\" title=\"the reward the search optimised\">guidance</span>";
  return h;
}

std::vector<std::string> metric_names(const std::vector<RunView>& views) {
  std::set<std::string> names;
  for (const RunView& v : views) {
    for (const auto& [name, stats] : v.results().metrics()) names.insert(name);
    for (const auto& p : v.results().prompts()) {
      for (const auto& [name, value] : p.scores()) names.insert(name);
    }
  }
  return {names.begin(), names.end()};
}

std::string category_section(const std::vector<RunView>& views, const std::vector<std::string>& metrics,
                             const std::string& id) {
  std::vector<std::map<std::string, CategoryMeans>> per_run;
  std::map<std::string, int> prompts;  // per category, of the first run that has it
  for (const RunView& v : views) {
    per_run.emplace_back();
    for (CategoryMeans& c : category_means(v.results())) {
      prompts.emplace(c.category, c.prompts);
      per_run.back()[c.category] = std::move(c);
    }
  }
  if (prompts.empty()) return "";
  const bool several = views.size() > 1;
  std::string h = "<section id=\"" + id +
                  "\"><h2>By category</h2><div class=\"tablewrap\"><table class=\"data\"><thead><tr>"
                  "<th" +
                  std::string(several ? " rowspan=\"2\"" : "") + ">category</th><th class=\"num\"" +
                  (several ? " rowspan=\"2\"" : "") + ">prompts</th>";
  for (const std::string& m : metrics) {
    h += "<th class=\"num\"" + (several ? " colspan=\"" + std::to_string(views.size()) + "\"" : std::string()) + ">" +
         metric_heading(m, views[0].rewards()) + "</th>";
  }
  h += "</tr>";
  if (several) {
    h += "<tr>";
    for (size_t m = 0; m < metrics.size(); ++m) {
      for (const RunView& v : views) h += "<th class=\"num\">" + escape_html(v.label()) + "</th>";
    }
    h += "</tr>";
  }
  h += "</thead><tbody>";
  for (const auto& [category, count] : prompts) {
    h += "<tr><th>" + escape_html(category) + "</th><td class=\"num\">" + std::to_string(count) + "</td>";
    for (const std::string& m : metrics) {
      for (size_t r = 0; r < views.size(); ++r) {
        const auto c = per_run[r].find(category);
        const bool has = c != per_run[r].end() && c->second.mean.count(m) > 0;
        h += "<td class=\"num\">" + (has ? format_value(c->second.mean.at(m)) : std::string("-")) + "</td>";
      }
    }
    h += "</tr>";
  }
  h += "</tbody></table></div><p class=\"note\">Mean score of the prompts in each category; a prompt that lists "
       "several categories (VBench dimensions) counts in each.</p></section>";
  return h;
}

std::string run_body(RunView& v) {
  std::string h = "<section id=\"" + v.id() + "-settings\" class=\"cards\"><div class=\"card\"><h3>Settings</h3>" +
                  key_values(settings_rows(v.results())) + "</div><div class=\"card\"><h3>Totals</h3>" +
                  key_values(totals_rows(v.results())) + "</div></section>";
  h += metrics_section(v);
  h += category_section({v}, metric_names({v}), v.id() + "-categories");
  if (v.results().failed_size() > 0) {  // poison prompts (JobSpec.max_attempts): no answer, the error instead
    h += "<section id=\"" + v.id() + "-failed\"><h2>Failed prompts</h2><div class=\"tablewrap\"><table class=\"data\">"
         "<thead><tr><th>#</th><th>prompt</th><th class=\"num\">attempts</th><th>error</th></tr></thead><tbody>";
    for (const proto::FailedPrompt& f : v.results().failed()) {
      h += "<tr><td>" + std::to_string(f.index()) + "</td><td>" + escape_html(f.prompt()) + "</td><td class=\"num\">" +
           std::to_string(f.attempts()) + "</td><td>" + escape_html(f.error()) + "</td></tr>";
    }
    h += "</tbody></table></div></section>";
  }
  h += "<section id=\"" + v.id() + "-prompts\"><h2>Prompts</h2>";
  for (const proto::PromptOutcome& p : v.results().prompts()) h += prompt_card(v, p);
  return h + "</section>";
}

}  // namespace evosearch::report
