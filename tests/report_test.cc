#include "report/report.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "common/atomic_file.h"
#include "coordinator/job_spec.h"
#include "media/official_results.h"
#include "report/report_html.h"
#include "report/report_stats.h"
#include "report/report_svg.h"
#include "report_fixture.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;
using testing_support::fresh_dir;
using testing_support::ReportJob;
using testing_support::write_report_job;

std::string page_of(const std::string& path) {
  StatusOr<std::string> text = read_file(path);
  EXPECT_TRUE(text.ok()) << text.status().to_string();
  return text.ok() ? *text : "";
}

// The settings card has row `key` = `value` (its <dt> may carry the setting's doc as a title).
bool has_setting(const std::string& html, const std::string& key, const std::string& value) {
  return html.find(">" + key + "</dt><dd>" + value + "</dd>") != std::string::npos;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

std::vector<std::string> media_links(const std::string& html) {
  std::vector<std::string> links;
  const std::regex attribute(R"re(\b(?:src|poster)="([^"]*)")re");
  for (std::sregex_iterator it(html.begin(), html.end(), attribute), end; it != end; ++it) links.push_back((*it)[1]);
  return links;
}

std::string url_decoded(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// Every linked file exists where the page's folder says it is.
void expect_links_resolve(const std::string& html, const std::string& page) {
  const std::vector<std::string> links = media_links(html);
  EXPECT_FALSE(links.empty());
  for (const std::string& link : links) {
    EXPECT_TRUE(fs::is_regular_file(fs::path(page).parent_path() / url_decoded(link))) << link;
  }
}

TEST(ReportHtml, EscapesEverySpecialCharacter) {
  EXPECT_EQ(report::escape_html("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
  EXPECT_EQ(report::escape_html("plain text"), "plain text");
}

TEST(ReportHtml, OnlyPathsInsideTheFolderAreLinked) {
  for (const std::string ok : {"images/a.png", "a.png", "grids/./0001-x-g2.png", "with space/#1.png"}) {
    EXPECT_TRUE(report::stays_inside(ok)) << ok;
  }
  for (const std::string bad : {"", "../a.png", "images/../../a.png", "images/..", "/etc/passwd", "a\\..\\b.png"}) {
    EXPECT_FALSE(report::stays_inside(bad)) << bad;
  }
  EXPECT_FALSE(report::stays_inside(std::string("a\0b.png", 7)));
}

TEST(ReportHtml, UrlPathKeepsRelativeLinksRelative) {
  EXPECT_EQ(report::url_path("javascript:alert(1)"), "javascript%3Aalert%281%29");
  EXPECT_EQ(report::url_path("../run a/#1?.png"), "../run%20a/%231%3F.png");
  EXPECT_EQ(report::url_path("caf\xC3\xA9.png"), "caf%C3%A9.png");
  EXPECT_EQ(report::url_path("images/0001-a-dark-sneaker.png"), "images/0001-a-dark-sneaker.png");
}

TEST(ReportHtml, NumbersForPeople) {
  EXPECT_EQ(report::format_value(0.5), "0.5000");
  EXPECT_EQ(report::format_value(-12.34567), "-12.3457");
  EXPECT_EQ(report::format_value(1e-5), "1.000e-05");
  EXPECT_EQ(report::format_value(0), "0.0000");
  EXPECT_EQ(report::format_value(std::nan("")), "NaN");
  EXPECT_EQ(report::format_count(1234567), "1\u202F234\u202F567");
  EXPECT_EQ(report::format_count(999), "999");
  EXPECT_EQ(report::format_duration(42), "42.0 s");
  EXPECT_EQ(report::format_duration(185), "3 min 05 s");
  EXPECT_EQ(report::format_duration(7620), "2 h 07 min");
  EXPECT_EQ(report::format_bytes(512), "512 B");
  EXPECT_EQ(report::format_bytes(3 * 1024 * 1024 + 512 * 1024), "3.5 MiB");
}

proto::GenerationRecord record(uint32_t g, int start, int end, std::vector<double> fitness, double best) {
  proto::GenerationRecord r;
  r.set_generation(g);
  r.set_start_step(start);
  r.set_end_step(end);
  for (double f : fitness) r.add_fitness(f);
  r.set_best_so_far(best);
  return r;
}

TEST(ReportSvg, SeriesFollowTheGenerations) {
  const report::FitnessSeries s =
      report::fitness_series({record(0, 0, 10, {1, 3}, 3), record(1, 4, 10, {2, std::nan(""), 5}, 5)});
  ASSERT_EQ(s.mean.size(), 2u);
  EXPECT_DOUBLE_EQ(s.mean[0].value, 2);
  EXPECT_DOUBLE_EQ(s.mean[1].value, 3.5);  // the NaN is left out
  ASSERT_EQ(s.best.size(), 2u);
  EXPECT_EQ(s.best[1].generation, 1u);
  EXPECT_DOUBLE_EQ(s.best[1].value, 5);
  ASSERT_EQ(s.candidates.size(), 4u);
  EXPECT_EQ(s.candidates[3].candidate, 2u);
}

TEST(ReportSvg, BestSoFarStartsAtTheFirstFinalSample) {
  // Particle segments: only the last one reaches the final step.
  const report::FitnessSeries s = report::fitness_series(
      {record(0, 0, 5, {0.2, 0.4}, 0), record(1, 5, 10, {0.5, 0.3}, 0), record(2, 10, 20, {0.6, 0.7}, 0.7)});
  ASSERT_EQ(s.best.size(), 1u);
  EXPECT_EQ(s.best[0].generation, 2u);
  EXPECT_EQ(s.mean.size(), 3u);
}

struct Marker {
  uint32_t generation;
  double value, x, y;
};

std::vector<Marker> markers(const std::string& svg, const std::string& cls) {
  std::vector<Marker> out;
  const std::regex circle("<circle class=\"pt " + cls +
                          R"re(" data-g="(\d+)" data-v="([^"]+)" cx="([-\d.]+)" cy="([-\d.]+)")re");
  for (std::sregex_iterator it(svg.begin(), svg.end(), circle), end; it != end; ++it) {
    out.push_back(
        {static_cast<uint32_t>(std::stoul((*it)[1])), std::stod((*it)[2]), std::stod((*it)[3]), std::stod((*it)[4])});
  }
  return out;
}

TEST(ReportSvg, PlotPointsMatchTheValues) {
  const std::vector<proto::GenerationRecord> history = {
      record(0, 0, 10, {0.1, 0.4, 0.3}, 0.4), record(1, 0, 10, {0.35, 0.55}, 0.55), record(2, 4, 10, {0.5, 0.52}, 0.55),
      record(3, 6, 10, {0.6, 0.9}, 0.9)};
  const std::string svg = report::fitness_plot_svg(report::fitness_series(history), "match <a&b>");
  const std::vector<Marker> best = markers(svg, "best"), mean = markers(svg, "mean");
  ASSERT_EQ(best.size(), 4u);
  ASSERT_EQ(mean.size(), 4u);
  const double expected_best[] = {0.4, 0.55, 0.55, 0.9};
  const double expected_mean[] = {(0.1 + 0.4 + 0.3) / 3, 0.45, 0.51, 0.75};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(best[i].generation, i);
    EXPECT_EQ(best[i].value, expected_best[i]);
    EXPECT_DOUBLE_EQ(mean[i].value, expected_mean[i]);
    // Inside the plot area (viewBox 420x220, margins 58/14/30/40).
    EXPECT_GE(best[i].x, 58);
    EXPECT_LE(best[i].x, 406);
    EXPECT_GE(best[i].y, 30);
    EXPECT_LE(best[i].y, 180);
    EXPECT_DOUBLE_EQ(best[i].x, mean[i].x);  // one x per generation
    if (i > 0) {
      EXPECT_GT(best[i].x, best[i - 1].x);
    }
  }
  // Higher values are drawn higher up; equal values at the same height.
  EXPECT_LT(best[1].y, best[0].y);
  EXPECT_DOUBLE_EQ(best[2].y, best[1].y);
  EXPECT_LT(best[3].y, mean[3].y);
  // The scale is linear: the pixel distances have the values' proportions.
  EXPECT_NEAR((best[0].y - best[3].y) / (best[0].y - best[1].y), (0.9 - 0.4) / (0.55 - 0.4), 0.05);
  // The polylines go through the markers.
  const std::string points = svg.substr(svg.find("<polyline class=\"best\" points=\"") + 31);
  char first[64];
  std::snprintf(first, sizeof first, "%.2f,%.2f ", best[0].x, best[0].y);
  EXPECT_EQ(points.rfind(first, 0), 0u) << points.substr(0, 80);
  EXPECT_EQ(count(svg, "<circle class=\"cand\""), 9u + 1u);  // every candidate, and the legend's dot
  EXPECT_NE(svg.find(">generation</text>"), std::string::npos);
  EXPECT_NE(svg.find(">match &lt;a&amp;b&gt;</text>"), std::string::npos);
  EXPECT_NE(svg.find("best so far"), std::string::npos);
  EXPECT_NE(svg.find(">mean</text>"), std::string::npos);
  EXPECT_GE(count(svg, "<text class=\"tick\""), 3u + 4u);  // value ticks and one per generation
}

TEST(ReportSvg, OneGenerationOfEqualValuesStillPlots) {
  const std::string svg = report::fitness_plot_svg(report::fitness_series({record(0, 0, 8, {0.5, 0.5}, 0.5)}), "r");
  const std::vector<Marker> best = markers(svg, "best");
  ASSERT_EQ(best.size(), 1u);
  EXPECT_DOUBLE_EQ(best[0].x, 58 + (420 - 58 - 14) / 2.0);
  EXPECT_GT(best[0].y, 30);
  EXPECT_LT(best[0].y, 180);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  EXPECT_EQ(report::fitness_plot_svg(report::fitness_series({}), "r"), "");
}

TEST(ReportStats, CategoriesSplitAndCountInEach) {
  EXPECT_EQ(report::split_categories(" color, counting,,color "), (std::vector<std::string>{"color", "counting"}));
  EXPECT_TRUE(report::split_categories(" , ").empty());
  proto::JobResults r;
  const std::vector<std::pair<std::string, double>> prompts = {{"a", 1.0}, {"a, b", 2.0}, {"b", 4.0}, {"", 8.0}};
  for (const auto& [category, score] : prompts) {
    proto::PromptOutcome& p = *r.add_prompts();
    p.set_category(category);
    (*p.mutable_scores())["m"] = score;
    if (category == "b") (*p.mutable_scores())["only-b"] = 5;
  }
  const std::vector<report::CategoryMeans> c = report::category_means(r);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].category, "a");
  EXPECT_EQ(c[0].prompts, 2);
  EXPECT_DOUBLE_EQ(c[0].mean.at("m"), 1.5);
  EXPECT_EQ(c[0].mean.count("only-b"), 0u);
  EXPECT_EQ(c[1].category, "b");
  EXPECT_EQ(c[1].prompts, 2);
  EXPECT_DOUBLE_EQ(c[1].mean.at("m"), 3.0);
  EXPECT_DOUBLE_EQ(c[1].mean.at("only-b"), 5.0);
}

TEST(Report, OneRunShowsSettingsPromptsPlotsAndGenerations) {
  const std::string out = fresh_dir("report-one");
  const ReportedJob run = write_report_job(out, {});
  const std::string page = out + "/report.html";
  ASSERT_TRUE(write_report({run}, page).ok());
  const std::string html = page_of(page);
  EXPECT_NE(html.find("<title>fashion-evosearch"), std::string::npos);
  EXPECT_NE(html.find("<dd>EvoSearch</dd>"), std::string::npos);
  // The method's settings as the searcher describes them, defaults filled in, each with its doc.
  EXPECT_TRUE(has_setting(html, "Evolution steps", "0, 2"));
  EXPECT_TRUE(has_setting(html, "Population", "4, 3, 3"));
  EXPECT_TRUE(has_setting(html, "Elites", "1"));
  EXPECT_TRUE(has_setting(html, "Tournament fraction", "0.9"));
  EXPECT_TRUE(has_setting(html, "Beta", "0.3"));
  EXPECT_NE(html.find("<dt title=\"K = [k_init, k_1, ...]: children per generation, each rolled out to the last "
                      "step\">Population</dt>"),
            std::string::npos);
  EXPECT_EQ(html.find("scored on their x0 prediction"), std::string::npos);  // EvoSearch does not screen
  EXPECT_NE(html.find("<dt>Sampler</dt><dd>dpmpp-sde, 4 steps, CFG 3</dd>"), std::string::npos);
  EXPECT_NE(html.find("<dt>Seed</dt><dd>7</dd>"), std::string::npos);
  EXPECT_NE(html.find("<dt>NFE</dt><dd>102 (34 per prompt)</dd>"), std::string::npos);
  EXPECT_NE(html.find("<dt>Wall time</dt><dd>12.5 s</dd>"), std::string::npos);
  // The guidance reward is marked, the other metric is not.
  EXPECT_GT(count(html, "fashion-match<span class=\"badge\""), 3u);
  EXPECT_EQ(count(html, "fashion-eval<span class=\"badge\""), 0u);
  EXPECT_NE(html.find("the image matches the prompt"), std::string::npos);
  // Per prompt: the answer, a plot with three generations, the grids and every fitness value.
  EXPECT_EQ(count(html, "<article class=\"prompt\""), 3u);
  EXPECT_EQ(count(html, "<svg class=\"plot\""), 3u);
  EXPECT_EQ(count(html, "<circle class=\"pt best\""), 9u);
  EXPECT_EQ(count(html, "<details class=\"gens\">"), 3u);
  EXPECT_EQ(count(html, "src=\"grids/"), 9u);
  EXPECT_EQ(count(html, "src=\"images/"), 3u);
  EXPECT_EQ(count(html, "<li class=\"answer\""), 3u);
  EXPECT_NE(html.find("<b>1</b>" + report::format_value(0.62) + "</li>"), std::string::npos);
  EXPECT_NE(html.find("class=\"px\""), std::string::npos);  // 28-pixel images are scaled up sharply
  expect_links_resolve(html, page);
  // Categories: "accessories" holds prompts 1 and 2.
  const size_t row = html.find("<tr><th>accessories</th><td class=\"num\">2</td>");
  ASSERT_NE(row, std::string::npos);
  const std::string row_text = html.substr(row, html.find("</tr>", row) - row);
  EXPECT_NE(row_text.find(report::format_value((0.71 + 0.55) / 2)), std::string::npos) << row_text;
  EXPECT_NE(row_text.find(report::format_value((0.35 + 0.50) / 2)), std::string::npos) << row_text;
  EXPECT_EQ(html.find("class=\"warn\"><strong>"), std::string::npos);  // nothing to warn about
  for (const auto& entry : fs::directory_iterator(out)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  }
}

TEST(Report, PromptTextCannotBreakOutOfThePage) {
  const std::string out = fresh_dir("report-escape");
  ReportedJob run = write_report_job(out, {});
  run.results.set_name("<img src=x onerror=alert(1)>");
  (*run.results.mutable_prompts(0)->mutable_scores())["\"><script>bad()</script>"] = 1;
  ASSERT_TRUE(write_report({run}, out + "/report.html").ok());
  const std::string html = page_of(out + "/report.html");
  EXPECT_EQ(count(html, "<script"), 1u);  // the page's own self-check
  EXPECT_EQ(html.find("<b>bag</b>"), std::string::npos);
  EXPECT_EQ(html.find("<img src=x"), std::string::npos);
  EXPECT_NE(
      html.find("a &quot;quoted&quot; &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bag&lt;/b&gt;"),
      std::string::npos);
  EXPECT_NE(html.find("&lt;img src=x onerror=alert(1)&gt;"), std::string::npos);
  EXPECT_NE(html.find("&quot;&gt;&lt;script&gt;bad()&lt;/script&gt;"), std::string::npos);
  // The alt text of the answer image is escaped too.
  EXPECT_NE(html.find("alt=\"answer to: a &quot;quoted&quot; &lt;script&gt;"), std::string::npos);
}

TEST(Report, ComparisonOfSeveralRuns) {
  const std::string root = fresh_dir("report-compare");
  ReportJob a, b;
  a.name = "evo";
  a.score_offset = 0.1;
  b.name = "bon";
  b.method = "best-of-n";
  const ReportedJob run_a = write_report_job(root + "/evo", a), run_b = write_report_job(root + "/bon", b);
  const std::string page = root + "/pages/compare.html";
  ASSERT_TRUE(write_report({run_a, run_b}, page).ok());
  const std::string html = page_of(page);
  EXPECT_NE(html.find("<h1>evo vs bon</h1>"), std::string::npos);
  // Metric rows: mean ± std per run, the highest mean marked.
  const proto::MetricStats& ma = run_a.results.metrics().at("fashion-match");
  const proto::MetricStats& mb = run_b.results.metrics().at("fashion-match");
  EXPECT_NE(html.find("<td class=\"num best\">" + report::format_value(ma.mean()) + " &plusmn; " +
                      report::format_value(ma.std()) + "</td><td class=\"num\">" + report::format_value(mb.mean()) +
                      " &plusmn; " + report::format_value(mb.std()) + "</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<tr><th>NFE per prompt</th><td class=\"num\">34</td><td class=\"num\">34</td></tr>"),
            std::string::npos);
  EXPECT_NE(html.find("<tr><th>reward calls per prompt</th><td class=\"num\">10</td><td class=\"num\">10</td></tr>"),
            std::string::npos);
  EXPECT_NE(html.find("<tr><th>Method</th><td>EvoSearch</td><td>Best-of-N</td></tr>"), std::string::npos);
  EXPECT_NE(html.find(">N</th><td>-</td><td>8</td></tr>"), std::string::npos);
  EXPECT_NE(html.find(">Population</th><td>4, 3, 3</td><td>-</td></tr>"), std::string::npos);
  // Side by side: every prompt's answer from both runs, linking to the run's details.
  EXPECT_EQ(count(html, "<a href=\"#r0-p"), 3u);
  EXPECT_EQ(count(html, "<a href=\"#r1-p"), 3u);
  EXPECT_EQ(count(html, "<details class=\"run\""), 2u);
  // Categories per run: two sub-columns under each metric.
  EXPECT_NE(html.find("colspan=\"2\">fashion-match"), std::string::npos);
  // Links go from the page's folder to each output folder.
  EXPECT_GT(count(html, "src=\"../evo/images/"), 0u);
  EXPECT_GT(count(html, "src=\"../bon/grids/"), 0u);
  expect_links_resolve(html, page);
}

// A budget-only spec: the page shows the budget, what the planner chose, and evosearch-lookahead's
// own sizes and screening generations as its searcher describes them.
TEST(Report, PlannedLookaheadShowsThePlanAndItsSizes) {
  const std::string out = fresh_dir("report-planned");
  ReportedJob run = write_report_job(out, {});
  run.results.set_method("evosearch-lookahead");
  proto::SearchSpec& search = *run.results.mutable_spec()->mutable_search();
  search.set_method("evosearch-lookahead");
  search.set_model_calls_budget(640);
  search.clear_evolution_steps();
  search.add_evolution_steps(2);
  search.clear_population();
  for (int k : {3, 3}) search.add_population(k);
  for (int s : {12, 6}) search.add_screened(s);
  for (int l : {1, 0}) search.add_lookahead_steps(l);
  search.mutable_plan()->set_summary("planned evosearch-lookahead for model_calls_budget 640: S = [2]");
  StatusOr<std::unique_ptr<Searcher>> searcher = make_searcher(search, 4, SearchKey{7, 0});
  ASSERT_TRUE(searcher.ok()) << searcher.status().to_string();
  *run.results.mutable_method_description() = (*searcher)->describe();
  const std::string page = out + "/report.html";
  ASSERT_TRUE(write_report({run}, page).ok());
  const std::string html = page_of(page);
  EXPECT_NE(html.find("<p class=\"sub\">EvoSearch with look-ahead &middot;"), std::string::npos);
  EXPECT_TRUE(has_setting(html, "Model-call budget", "640"));
  EXPECT_TRUE(has_setting(html, "Planned from the budget",
                          "planned evosearch-lookahead for model_calls_budget 640: S = [2]"));
  EXPECT_TRUE(has_setting(html, "Evolution steps", "2"));
  EXPECT_TRUE(has_setting(html, "Screened", "12, 6"));
  EXPECT_TRUE(has_setting(html, "Look-ahead steps", "1, 0"));
  // Phases 0 and 2 screen: of each prompt's three generations, the first and the last.
  EXPECT_EQ(count(html, "candidates scored on their x0 prediction"), 6u);
  EXPECT_EQ(count(html, "<h4>Generation 1<span>steps 0 &rarr; 4 &middot; 3 candidates &middot;"), 3u);
}

// results.json from before methods described themselves: the spec's search fields that are set,
// by their names in the spec, and screening guessed from where the rollouts stopped.
TEST(Report, OlderResultsShowTheSpecsSearchFields) {
  const std::string out = fresh_dir("report-older");
  ReportJob job;
  job.described = false;
  ReportedJob run = write_report_job(out, job);
  ASSERT_FALSE(run.results.has_method_description());
  run.results.mutable_spec()->mutable_search()->set_beta(0.25);
  run.results.mutable_prompts(0)->mutable_generations(1)->set_end_step(2);
  ASSERT_TRUE(write_report({run}, out + "/report.html").ok());
  const std::string html = page_of(out + "/report.html");
  EXPECT_NE(html.find("<dd>evosearch</dd>"), std::string::npos);
  EXPECT_NE(html.find("<dt title=\"search.evolution_steps in the spec\">evolution_steps</dt><dd>0, 2</dd>"),
            std::string::npos);
  EXPECT_TRUE(has_setting(html, "population", "4, 3, 3"));
  EXPECT_TRUE(has_setting(html, "elites", "1"));
  EXPECT_TRUE(has_setting(html, "beta", "0.25"));
  EXPECT_FALSE(has_setting(html, "method", "evosearch"));  // it is the Method row
  EXPECT_EQ(html.find(">tournament_fraction</dt>"), std::string::npos);  // not set
  EXPECT_EQ(html.find(">n</dt>"), std::string::npos);
  EXPECT_EQ(count(html, "candidates scored on their x0 prediction"), 1u);
}

// A method the report has never heard of shows its own title, settings and screening
// generations: adding a search method needs no change here.
TEST(Report, AnyMethodShowsWhatItSaysAboutItself) {
  const std::string root = fresh_dir("report-made-up");
  ReportJob job;
  job.name = "anneal";
  job.method = "simulated-annealing";
  job.described = false;
  ReportedJob run = write_report_job(root + "/anneal", job);
  proto::MethodDescription& d = *run.results.mutable_method_description();
  d.set_method("simulated-annealing");
  d.set_title("Simulated <annealing>");
  const std::vector<std::array<std::string, 3>> settings = {
      {"Temperature", "0.5 \u2192 0.01", "how readily a worse sample is kept: \"hot\" keeps more"},
      {"Moves per step", "3", "proposals per generation"}};
  for (const auto& [label, value, doc] : settings) {
    proto::MethodSetting& s = *d.add_settings();
    s.set_label(label);
    s.set_value(value);
    s.set_doc(doc);
  }
  d.add_screening_generations(1);
  const std::string page = root + "/anneal/report.html";
  ASSERT_TRUE(write_report({run}, page).ok());
  const std::string html = page_of(page);
  EXPECT_NE(html.find("<p class=\"sub\">Simulated &lt;annealing&gt; &middot;"), std::string::npos);
  EXPECT_NE(html.find("<dd>Simulated &lt;annealing&gt;</dd>"), std::string::npos);
  EXPECT_NE(html.find("<dt title=\"how readily a worse sample is kept: &quot;hot&quot; keeps more\">Temperature</dt>"
                      "<dd>0.5 \u2192 0.01</dd>"),
            std::string::npos);
  EXPECT_NE(html.find("<dt title=\"proposals per generation\">Moves per step</dt><dd>3</dd>"), std::string::npos);
  // The settings sit between the sampler and the seed, as every method's do.
  EXPECT_LT(html.find(">Sampler</dt>"), html.find(">Temperature</dt>"));
  EXPECT_LT(html.find(">Moves per step</dt>"), html.find(">Seed</dt>"));
  // Generation 1 of every prompt screens, the others do not.
  EXPECT_EQ(count(html, "candidates scored on their x0 prediction"), 3u);
  EXPECT_EQ(count(html, "<h4>Generation 1<span>steps 0 &rarr; 4 &middot; 3 candidates scored on their x0 "
                        "prediction"),
            3u);
  // Beside EvoSearch: each method's rows in the runs table, "-" where a run has no such setting.
  const ReportedJob evo = write_report_job(root + "/evo", {});
  ASSERT_TRUE(write_report({evo, run}, root + "/compare.html").ok());
  const std::string compare = page_of(root + "/compare.html");
  EXPECT_NE(compare.find("<tr><th>Method</th><td>EvoSearch</td><td>Simulated &lt;annealing&gt;</td></tr>"),
            std::string::npos);
  EXPECT_NE(compare.find(">Temperature</th><td>-</td><td>0.5 \u2192 0.01</td></tr>"), std::string::npos);
  EXPECT_NE(compare.find(">Elites</th><td>1</td><td>-</td></tr>"), std::string::npos);
  EXPECT_NE(compare.find("<summary>anneal &middot; Simulated &lt;annealing&gt;</summary>"), std::string::npos);
}

TEST(Report, RepeatedNamesGetTheMethodThenANumber) {
  const std::string root = fresh_dir("report-labels");
  ReportJob bon;
  bon.method = "best-of-n";
  const ReportedJob a = write_report_job(root + "/a", {}), b = write_report_job(root + "/b", bon);
  ASSERT_TRUE(write_report({a, b, a}, root + "/x.html").ok());
  const std::string html = page_of(root + "/x.html");
  EXPECT_NE(html.find("<th>fashion-evosearch (evosearch) #1</th><th>fashion-evosearch (best-of-n)</th>"
                      "<th>fashion-evosearch (evosearch) #3</th>"),
            std::string::npos);
  ReportedJob named = a;
  named.label = "mine";
  ASSERT_TRUE(write_report({named}, root + "/y.html").ok());
  EXPECT_NE(page_of(root + "/y.html").find("<h1>mine</h1>"), std::string::npos);
}

TEST(Report, PathsLeavingTheFolderAndMissingFilesAreWarnedNotLinked) {
  const std::string out = fresh_dir("report-unsafe");
  ReportedJob run = write_report_job(out, {});
  run.results.mutable_prompts(0)->set_image("../../../etc/passwd");
  run.results.mutable_prompts(1)->set_image("/etc/passwd");
  fs::remove(fs::path(out) / run.results.prompts(2).generations(0).grid());
  ASSERT_TRUE(write_report({run}, out + "/report.html").ok());
  const std::string html = page_of(out + "/report.html");
  for (const std::string& link : media_links(html)) EXPECT_EQ(link.find("passwd"), std::string::npos) << link;
  EXPECT_NE(
      html.find("<li>prompt 0 image: the path &#39;../../../etc/passwd&#39; leaves the output folder; not linked</li>"),
      std::string::npos);
  EXPECT_NE(html.find("<li>prompt 1 image: the path &#39;/etc/passwd&#39; leaves the output folder; not linked</li>"),
            std::string::npos);
  EXPECT_NE(html.find("prompt 2 generation 0 grid: " + out + "/grids/0002-prompt-g0.png not found</li>"),
            std::string::npos);
  EXPECT_EQ(count(html, "<div class=\"missing\">"), 3u);
  expect_links_resolve(html, out + "/report.html");
}

TEST(Report, VideoAnswerPlaysWithItsPreviewAndFrames) {
  // Placeholder files: the page's markup is checked here, playing them in report_browser_test.
  const std::string out = fresh_dir("report-video");
  ReportJob job;
  job.video = ReportJob::Video::kPlaceholder;
  const ReportedJob run = write_report_job(out, job);
  ASSERT_TRUE(write_report({run}, out + "/report.html").ok());
  const std::string html = page_of(out + "/report.html");
  EXPECT_NE(html.find("<video controls loop muted playsinline preload=\"metadata\" poster=\"videos/0002-prompt.gif\" "
                      "width=\"256\" height=\"192\" class=\"px\"><source src=\"videos/0002-prompt.mp4\" "
                      "type=\"video/mp4\"><img src=\"videos/0002-prompt.gif\""),
            std::string::npos);
  EXPECT_NE(html.find("<figure class=\"strip\"><img src=\"images/0002-prompt.png\" alt=\"frames of: a bright shirt\""),
            std::string::npos);
  EXPECT_NE(html.find("best video: generation 2, candidate 1"), std::string::npos);
  expect_links_resolve(html, out + "/report.html");
}

TEST(Report, LoadsResultsAndRejectsWhatIsNotThere) {
  const std::string out = fresh_dir("report-load");
  const ReportedJob run = write_report_job(out, {});
  EXPECT_EQ(run.results.prompts_size(), 3);
  EXPECT_EQ(run.results.prompts(1).prompt(), testing_support::kHostilePrompt);
  EXPECT_EQ(run.results.prompts(2).generations(2).fitness_size(), 3);
  EXPECT_EQ(run.output_dir, out);
  // A newer job's fields are ignored.
  ASSERT_TRUE(
      write_file_atomic(out + "/results.json", R"({"name": "n", "future_field": 1, "prompts": [{"prompt": "p"}]})")
          .ok());
  StatusOr<ReportedJob> newer = load_reported_job(out);
  ASSERT_TRUE(newer.ok()) << newer.status().to_string();
  EXPECT_EQ(newer->results.prompts(0).prompt(), "p");
  ASSERT_TRUE(write_file_atomic(out + "/results.json", "{\"prompts\": 3}").ok());
  const StatusOr<ReportedJob> bad = load_reported_job(out);
  EXPECT_EQ(bad.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(bad.status().message().find(out + "/results.json"), std::string::npos);
  EXPECT_EQ(load_reported_job(out + "/nowhere").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(write_report({}, out + "/r.html").code(), StatusCode::kInvalidArgument);
}

proto::JobResults scored(const std::vector<std::pair<uint32_t, std::map<std::string, double>>>& prompts) {
  proto::JobResults r;
  for (const auto& [index, scores] : prompts) {
    proto::PromptOutcome& p = *r.add_prompts();
    p.set_index(index);
    for (const auto& [name, value] : scores) (*p.mutable_scores())[name] = value;
  }
  return r;
}

TEST(OfficialResults, LayoutAndNumbersOfTheOfficialCode) {
  // Prompts out of order, a non-ASCII metric name, values Python prints in both notations.
  const proto::JobResults r = scored({{2, {{"fashion-match", 4.0}, {"\xC3\xA9-score", 1e-05}, {"z", -2.5}}},
                                      {0, {{"fashion-match", 1.0}, {"\xC3\xA9-score", 0.1}, {"z", 1e16}}},
                                      {1, {{"fashion-match", 2.0}, {"\xC3\xA9-score", 0.0001}, {"z", 123456789.0}}}});
  const StatusOr<std::string> json = official_results_json(r);
  ASSERT_TRUE(json.ok()) << json.status().to_string();
  // What Python's json.dumps writes for the same values (std with n - 1, like torch.std).
  EXPECT_EQ(
      *json,
      "{\"fashion-match\": {\"result\": [1.0, 2.0, 4.0], \"mean\": 2.3333333333333335, \"std\": 1.5275252316519465, "
      "\"max\": 4.0, \"min\": 1.0}, "
      "\"z\": {\"result\": [1e+16, 123456789.0, -2.5], \"mean\": 3333333374485595.5, \"std\": 5773502656257353.0, "
      "\"max\": 1e+16, \"min\": -2.5}, "
      "\"\\u00e9-score\": {\"result\": [0.1, 0.0001, 1e-05], \"mean\": 0.033370000000000004, "
      "\"std\": 0.05770329020081957, \"max\": 0.1, \"min\": 1e-05}}");
  const std::string path = fresh_dir("official") + "/official/results.json";
  ASSERT_TRUE(write_official_results(r, path).ok());
  EXPECT_EQ(page_of(path), *json);
}

TEST(OfficialResults, OnePromptHasNoStd) {
  const StatusOr<std::string> json = official_results_json(scored({{0, {{"a", 0.5}}}}));
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(*json, "{\"a\": {\"result\": [0.5], \"mean\": 0.5, \"std\": NaN, \"max\": 0.5, \"min\": 0.5}}");
  EXPECT_EQ(*official_results_json(proto::JobResults()), "{}");
}

TEST(OfficialResults, EveryPromptNeedsEveryMetric) {
  const StatusOr<std::string> json = official_results_json(scored({{0, {{"a", 1}, {"b", 2}}}, {1, {{"a", 3}}}}));
  ASSERT_EQ(json.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(json.status().message().find("prompt 1 has no score for metric 'b'"), std::string::npos);
}

}  // namespace
}  // namespace evosearch
