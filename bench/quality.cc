// bench/quality: no search, Best-of-N, particle sampling, EvoSearch and evosearch-lookahead at
// several budgets (multiples of one sample's cost), on a prompt suite kept apart from any tuning
// (examples/fashion-holdout.txt; tuning used examples/fashion-dev.txt), for the bundled models.
// One table: guidance reward, the unseen evaluator, the other metrics (fashion-content),
// diversity, NFE, reward and model calls per prompt, model and wall time. Every method runs with
// seeds 1 and 2; diversity is the mean over prompts of the squared distance between the two
// seeds' answers in the evaluator's L2-normalised feature space (as the paper's CLIP diversity);
// for a video bundle the answers' clips are cut back out of their frame strips.
//
// Rows at equal NFE (budget x T): `best-of-n`, `evosearch-hand` (the hand-made schedule of
// earlier benchmarks), `evosearch` (planned from the budget alone), `particles`. Rows at equal
// model calls (denoiser + decoder + reward; budget x (T + 2), one sample's calls), all planned
// from the budget alone: `best-of-n@calls`, `evosearch@calls`, `particles@calls`,
// `lookahead@calls` (evosearch-lookahead). Rows at equal measured model time ("@seconds": budget x
// one sample's seconds, the denoiser, decoder and guidance reward timed once per bundle on the
// device, planned as `evosearch run` plans search.model_seconds_budget). After each budget, each
// --reference row (lookahead@calls, particles@calls) against every other row, paired over prompts
// (seed means): prompts won, mean difference and the exact two-sided Wilcoxon signed-rank p,
// "better" or "worse" at p < 0.05, else "level"; whether the reference meets the goal (from 20x:
// above every other search method of its budget kind on the guidance reward and the evaluator, and
// not worse than Best-of-N on the other metrics; below 20x: not worse than Best-of-N on any);
// and every row that raises the guidance reward over Best-of-N of its kind while lowering another
// metric (reward hacking). Rows with one budget for the whole suite ("@suite":
// search.suite_model_calls_budget = budget x (T + 2) x the suite's prompts, shared out after every
// prompt's first two evolution generations): `evosearch@suite`, `lookahead@suite`, each followed by a "suite
// budget" line against the same method's "@calls" row (the same calls split evenly): model calls
// per prompt, each metric's mean, prompts won and the paired test. Under each evosearch@calls and
// lookahead@calls row, a "climb signal" line: over prompts and seeds, the correlation of the rise
// after the second evolution generation with the rise in it (what a suite budget shares by), with
// the spread of the first generation's rewards and with the best reward reached by then.
//
//   build/bench/bench_quality [--bundles fashion-flow,fashion-ddpm] [--budgets 5,20,50]
//                             [--suite FILE] [--device D] [--threads N] [--methods ROW,ROW,...]
//                             [--lookahead-rules k=v,...] [--evo-rules k=v,...] [--reference ROW,...]
//   build/bench/bench_quality --bundles fashion-flow,fashion-ddpm,fashion-video   (all three models)
//
// Without --suite each bundle runs on its held-out suite: examples/fashion-holdout.txt, and
// examples/fashion-video-holdout.json for a video bundle; --suite gives every bundle that one.
//
// --lookahead-rules / --evo-rules plan those rows with other planner rules (tuning; fields of
// LookaheadRules / EvoRules in coordinator/search/planner.h, lists separated by ':').
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bench_common.h"
#include "quality_report.h"
#include "common/logging.h"
#include "coordinator/job_spec.h"
#include "coordinator/search/planner.h"
#include "jobs/prompt_suite.h"
#include "worker/allocator.h"
#include "worker/call_costs.h"
#include "media/image_io.h"
#include "worker/runtime.h"

using namespace evosearch;
using bench::ends_with;
using bench::print_climb_signal;
using bench::print_paired;
using bench::Row;

namespace {

// One number of a rules field, the whole text.
template <typename T>
bool read_number(const std::string& text, T& out) {
  std::istringstream in(text);
  in >> out;
  return !in.fail() && in.eof();
}

// "key=value,..." over a rules struct's fields: calls `set(key, value)`, which says whether it
// took them. Returns what is wrong, or "".
template <typename Set>
std::string read_rules(const std::string& text, const Set& set) {
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) return "expected key=value, got '" + item + "'";
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (!set(key, value)) return "'" + item + "': unknown key or not a number";
  }
  return {};
}

// "0.2:0.5" (a list inside key=value).
bool read_fractions(const std::string& text, std::vector<double>& out) {
  out.clear();
  std::stringstream in(text);
  for (std::string f; std::getline(in, f, ':');) {
    if (!read_number(f, out.emplace_back())) return false;
  }
  return !out.empty();
}

std::string read_lookahead_rules(const std::string& text, LookaheadRules& r) {
  return read_rules(text, [&r](const std::string& k, const std::string& v) {
    if (k == "initial_share") return read_number(v, r.initial_share);
    if (k == "initial_ratio") return read_number(v, r.initial_ratio);
    if (k == "lookahead_fraction") return read_number(v, r.lookahead_fraction);
    if (k == "evolution_fractions") return read_fractions(v, r.evolution_fractions);
    if (k == "ratio") return read_number(v, r.ratio);
    if (k == "later_lookahead_fraction") return read_number(v, r.later_lookahead_fraction);
    return false;
  });
}

std::string read_evo_rules(const std::string& text, EvoRules& r) {
  return read_rules(text, [&r](const std::string& k, const std::string& v) {
    if (k == "min_samples") return read_number(v, r.min_samples);
    if (k == "initial_share") return read_number(v, r.initial_share);
    if (k == "evolution_fractions") return read_fractions(v, r.evolution_fractions);
    return false;
  });
}

// --NAME k=v,...: planner rules, read (and refused naming the flag) while the command line is parsed.
template <typename Rules>
CLI::Option* add_rules(CLI::App& app, const std::string& name, std::optional<Rules>& rules,
                       std::string (*read)(const std::string&, Rules&), const std::string& help) {
  return app.add_option_function<std::string>(
      name,
      [&rules, read, name](const std::string& text) {
        Rules r;
        const std::string wrong = read(text, r);
        if (!wrong.empty()) throw CLI::ValidationError(name, wrong);
        rules = r;
      },
      help);
}

void set_evo_fields(proto::SearchSpec* s, const EvoSearchConfig& c) {
  s->clear_evolution_steps();
  s->clear_population();
  for (int v : c.evolution_steps) s->add_evolution_steps(v);
  for (int v : c.population) s->add_population(v);
  s->set_elites(c.elites);
}

// The hand-made EvoSearch schedule of earlier benchmarks, costing about `budget` samples' NFE.
void set_hand_schedule(proto::SearchSpec* s, int budget, int steps) {
  s->clear_evolution_steps();
  s->clear_population();
  if (budget < 10) {  // S = [0, T/2], K = [2, 2, 2]: 2T + 2T + T = 5T
    for (int v : {0, steps / 2}) s->add_evolution_steps(v);
    for (int v : {2, 2, 2}) s->add_population(v);
    s->set_elites(1);
    return;
  }
  // S = [0, T/5, 2T/5, 3T/5], K = [a, b, b, b, b]: NFE = aT + 2.8bT.
  const int a = static_cast<int>(std::ceil(0.4 * budget));
  const int b = std::max(2, static_cast<int>(std::lround((budget - a) / 2.8)));
  for (int v : {0, steps / 5, 2 * steps / 5, 3 * steps / 5}) s->add_evolution_steps(v);
  s->add_population(a);
  for (int i = 0; i < 4; ++i) s->add_population(b);
  s->set_elites(b >= 8 ? 2 : 1);
}

// The answer's pixels [1, *pixel_shape] from its PNG: the image, or for a video [C,F,H,W] its
// frames cut out of the frame strip (frames side by side, 1-px gaps and border: frame_strip in
// media/answer_files.h).
at::Tensor answer_pixels(const Image& image, const std::vector<int64_t>& pixel_shape) {
  const at::Tensor png = at::from_blob(const_cast<uint8_t*>(image.pixels.data()), {image.height, image.width, image.channels},
                                       at::kByte)
                             .permute({2, 0, 1})
                             .to(at::kFloat)
                             .div(255.0);
  if (pixel_shape.size() != 4) return png.unsqueeze(0);
  const int64_t frames = pixel_shape[1], h = pixel_shape[2], w = pixel_shape[3];
  if (image.width != 1 + frames * (w + 1) || image.height != h + 2) {
    bench::check(InvalidArgument("a frame strip of " + std::to_string(frames) + " frames of " + std::to_string(w) + "x" +
                                 std::to_string(h) + " is " + std::to_string(1 + frames * (w + 1)) + "x" +
                                 std::to_string(h + 2) + ", not " + std::to_string(image.width) + "x" +
                                 std::to_string(image.height)));
  }
  std::vector<at::Tensor> clip;
  for (int64_t f = 0; f < frames; ++f) clip.push_back(png.slice(1, 1, 1 + h).slice(2, 1 + f * (w + 1), 1 + f * (w + 1) + w));
  return at::stack(clip, 1).unsqueeze(0);
}

// L2-normalised evaluator features of every answer of a run (images, or clips cut out of their
// frame strips), by prompt index.
std::map<uint32_t, at::Tensor> answer_features(Bundle& bundle, const proto::JobResults& r, const std::string& output) {
  std::map<uint32_t, at::Tensor> out;
  int evaluator = -1;  // the first metric that is not the guidance reward (fashion-eval, video-eval)
  for (int i = 0; i < bundle.reward_count(); ++i) {
    if (evaluator < 0 && !bundle.manifest().rewards(i).guidance()) evaluator = i;
  }
  if (evaluator < 0) bench::check(InvalidArgument(bundle.dir() + ": the bundle has no reward besides the guidance one"));
  c10::InferenceMode guard;
  for (const auto& p : r.prompts()) {
    auto image = read_png((std::filesystem::path(output) / p.image()).string());
    bench::check(image.status());
    const at::Tensor pixels = answer_pixels(*image, bundle.pixel_shape()).to(bundle.device());
    auto f = bundle.features(evaluator, pixels);
    bench::check(f.status());
    const at::Tensor features = f->to(at::kCPU, at::kDouble);
    out[p.index()] = features / features.norm(2, {1}, true).clamp_min(1e-12);
  }
  return out;
}

// The search spec of one row at `budget` x one sample. "@seconds" rows are planned as
// `evosearch run` plans model_seconds_budget, at the bundle's `costs` measured once (so both seeds
// and every method pay the same prices).
// "@suite" rows: the same model calls for the whole suite of `prompts` (suite_model_calls_budget).
void set_row(proto::SearchSpec* s, const std::string& row, int budget, int steps,
             const std::optional<LookaheadRules>& look_rules, const std::optional<EvoRules>& evo_rules,
             const CallCosts& costs, uint32_t prompts) {
  const bool calls = ends_with(row, "@calls"), seconds = ends_with(row, "@seconds");
  if (ends_with(row, "@suite")) {
    s->set_method(row.substr(0, row.find('@')) == "lookahead" ? "evosearch-lookahead" : "evosearch");
    s->set_suite_model_calls_budget(int64_t{budget} * (steps + 2) * prompts);
    return bench::check(plan_search(*s, steps, prompts));
  }
  const std::string method = row.substr(0, row.find('@'));
  s->set_method(method == "lookahead" ? "evosearch-lookahead" : method == "evosearch-hand" ? "evosearch" : method);
  if (method == "none") return;
  if (method == "evosearch-hand") return set_hand_schedule(s, budget, steps);
  if (seconds) {
    s->set_model_seconds_budget(budget * (steps * costs.seconds_per_nfe + costs.seconds_per_decode +
                                          costs.seconds_per_reward));
    proto::SearchPlan* prices = s->mutable_plan();
    prices->set_seconds_per_nfe(costs.seconds_per_nfe);
    prices->set_seconds_per_decode(costs.seconds_per_decode);
    prices->set_seconds_per_reward(costs.seconds_per_reward);
    prices->set_measured_batch(costs.batch);
    return;  // planned by the run, as a spec file's would be
  }
  const Budget b{calls, int64_t{budget} * (steps + (calls ? 2 : 0))};
  if (calls) {
    s->set_model_calls_budget(b.amount);
  } else {
    s->set_nfe_budget(b.amount);
  }
  EvoSearchConfig base;
  base.steps = steps;
  if (method == "lookahead" && look_rules) {
    const LookaheadConfig c = plan_lookahead(b, base, *look_rules);
    set_evo_fields(s, c.evo);
    for (int v : c.screened) s->add_screened(v);
    for (int v : c.lookahead_steps) s->add_lookahead_steps(v);
  } else if (method == "evosearch" && evo_rules) {
    set_evo_fields(s, plan_evosearch(b, base, *evo_rules));
  }
  bench::check(plan_search(*s, steps));  // what `evosearch run` does with a budget-only spec
}

// The rows --methods may name: a method at equal NFE, at equal model calls with "@calls", or at
// equal measured model time with "@seconds".
std::vector<std::string> known_rows() {
  std::vector<std::string> rows{"none", "evosearch-hand"};
  for (const char* m : {"best-of-n", "evosearch", "particles", "lookahead"}) {
    rows.push_back(m);
    rows.push_back(std::string(m) + "@calls");
    rows.push_back(std::string(m) + "@seconds");
  }
  rows.push_back("evosearch@suite");
  rows.push_back("lookahead@suite");
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> bundles{"fashion-flow", "fashion-ddpm"};
  std::vector<int> budgets{5, 20, 50};
  std::string suite = bench::source_path("examples/fashion-holdout.txt"), device = "cpu";
  int threads = 0;
  std::vector<std::string> methods{"none",      "best-of-n",       "evosearch-hand",  "evosearch",
                                   "particles", "best-of-n@calls", "evosearch@calls", "particles@calls",
                                   "lookahead@calls"};
  std::vector<std::string> references{"lookahead@calls", "particles@calls"};
  std::optional<LookaheadRules> look_rules;
  std::optional<EvoRules> evo_rules;
  CLI::App app{"bench_quality: search methods against each other at equal budgets on a held-out prompt suite"};
  bench::flags::word_list(app, "--bundles", bundles, "bundled models (folders of models/)")
      ->check(CLI::Validator(
          [](std::string& name) -> std::string {
            return std::filesystem::is_directory(bench::source_path("models/" + name)) ? "" : "no folder models/" + name;
          },
          "NAME"));
  bench::flags::positive_list(app, "--budgets", budgets, "budgets, in multiples of one sample's cost");
  CLI::Option* suite_flag = bench::flags::suite(app, suite);
  bench::flags::device(app, device);
  bench::flags::threads(app, threads);
  bench::flags::word_list(app, "--methods", methods, "rows: none, best-of-n, evosearch-hand, evosearch, particles, "
                                                     "lookahead; @calls for equal model calls, @seconds for equal "
                                                     "measured model time; evosearch@suite and lookahead@suite for "
                                                     "the same model calls as one budget for the whole suite "
                                                     "(compared with their @calls rows)")
      ->check(CLI::IsMember(known_rows()));
  bench::flags::word_list(app, "--reference", references,
                          "rows compared with every other row, paired over prompts (exact Wilcoxon signed-rank), "
                          "each with its goal line")
      ->check(CLI::IsMember(known_rows()));
  add_rules(app, "--lookahead-rules", look_rules, read_lookahead_rules,
            "plan lookahead rows with these LookaheadRules (k=v,...; lists separated by ':')");
  add_rules(app, "--evo-rules", evo_rules, read_evo_rules, "plan evosearch rows with these EvoRules (k=v,...)");
  bench::flags::parse(app, argc, argv);
  configure_allocator();  // as evosearch run does: freed memory kept for reuse
  bench::check(setup_logging("warn", {}));
  set_compute_threads(threads);
  auto dev = choose_device(device);
  bench::check(dev.status());
  const std::string scratch = bench::scratch_folder("quality");
  // Without --suite, each bundle's held-out suite: video bundles the video one.
  const bool one_suite = suite_flag->count() > 0;
  const std::string video_suite = bench::source_path("examples/fashion-video-holdout.json");
  std::printf("bench/quality: suite %s, %s\n",
              one_suite ? suite.c_str() : (suite + " (" + video_suite + " for video bundles)").c_str(),
              runtime_summary(*dev).c_str());
  std::printf("paired lines: prompts won, mean difference, exact two-sided Wilcoxon signed-rank p over prompts (seed "
              "means); better or worse at p < 0.05, else level\n");
  for (const std::string& name : bundles) {
    const std::string dir = bench::source_path("models/" + name);
    auto bundle = Bundle::open(dir, *dev);
    bench::check(bundle.status());
    const int steps = (*bundle)->manifest().defaults().steps();
    const std::string& suite_file = one_suite || (*bundle)->pixel_shape().size() != 4 ? suite : video_suite;
    auto entries = read_prompt_suite(suite_file);
    bench::check(entries.status());
    const uint32_t prompt_count = static_cast<uint32_t>(entries->size());
    // The call costs "@seconds" rows are planned with, measured once per bundle at the job's batch size.
    CallCosts costs;
    if (std::any_of(methods.begin(), methods.end(), [](const std::string& m) { return ends_with(m, "@seconds"); })) {
      const proto::JobSpec probe = bench::job(dir, suite_file, scratch, name + "-costs");
      auto sampler = sampler_config(probe, (*bundle)->manifest());
      bench::check(sampler.status());
      auto schedule = make_schedule((*bundle)->manifest(), *sampler);
      bench::check(schedule.status());
      auto measured = measure_call_costs(**bundle, *schedule, (*bundle)->manifest().defaults().guidance_scale(),
                                         probe.batch_size());
      bench::check(measured.status());
      // In whole microseconds, the planner's unit, so that a budget of N samples buys N samples.
      const auto micro = [](double seconds) { return std::round(seconds * 1e6) / 1e6; };
      costs = *measured;
      costs.seconds_per_nfe = micro(costs.seconds_per_nfe);
      costs.seconds_per_decode = micro(costs.seconds_per_decode);
      costs.seconds_per_reward = micro(costs.seconds_per_reward);
      std::printf("%s: call costs at batch %d: %.4g ms per NFE, %.4g ms per decode, %.4g ms per reward call; one "
                  "sample %.4g ms (the @seconds rows' unit)\n",
                  name.c_str(), costs.batch, 1e3 * costs.seconds_per_nfe, 1e3 * costs.seconds_per_decode,
                  1e3 * costs.seconds_per_reward,
                  1e3 * (steps * costs.seconds_per_nfe + costs.seconds_per_decode + costs.seconds_per_reward));
    }
    std::vector<std::string> metrics;  // guidance reward first, then the others in manifest order
    for (const auto& r : (*bundle)->manifest().rewards()) {
      if (r.guidance()) metrics.insert(metrics.begin(), r.name());
      else metrics.push_back(r.name());
    }
    std::printf("%-13s %6s %-16s %7s %7s %7s", "bundle", "budget", "method", "NFE/prm", "rewards", "calls");
    for (const auto& m : metrics) std::printf(" %15s", m.c_str());
    std::printf(" %10s %8s %8s\n", "diversity", "model s", "wall s");
    for (const int budget : budgets) {
      const std::string budget_text = std::to_string(budget);
      std::vector<Row> rows;
      for (const std::string& method : methods) {
        if (method == "none" && budget != budgets[0]) continue;  // its cost does not depend on the budget
        std::vector<proto::JobResults> runs;
        std::vector<std::map<uint32_t, at::Tensor>> features;
        for (uint64_t seed : {1, 2}) {
          proto::JobSpec spec =
              bench::job(dir, suite_file, scratch, name + "-" + method + "-" + budget_text + "-" + std::to_string(seed));
          spec.set_seed(seed);
          set_row(spec.mutable_search(), method, budget, steps, look_rules, evo_rules, costs, prompt_count);
          auto r = bench::run(spec, **bundle);
          bench::check(r.status());
          features.push_back(answer_features(**bundle, *r, spec.output()));
          runs.push_back(std::move(*r));
        }
        Row row{method, {}};
        double wall = 0, diversity = 0, model = 0;
        for (const auto& r : runs) {
          wall += r.totals().wall_seconds();
          model += r.totals().model_seconds();
          for (const auto& m : metrics) {
            auto& v = row.per_prompt[m];
            v.resize(r.prompts_size());
            for (int p = 0; p < r.prompts_size(); ++p) v[p] += r.prompts(p).scores().at(m) / runs.size();
          }
        }
        for (const auto& [prompt, f] : features[0]) {
          diversity += (f - features[1].at(prompt)).pow(2).sum().item<double>() / features[0].size();
        }
        const double nfe = double(runs[0].totals().nfe()) / runs[0].prompts_size();
        const double rewards = double(runs[0].totals().reward_calls()) / runs[0].prompts_size();
        const double calls = nfe + rewards + double(runs[0].totals().decode_calls()) / runs[0].prompts_size();
        row.calls = calls;
        std::printf("%-13s %5dx %-16s %7.0f %7.0f %7.0f", name.c_str(), method == "none" ? 1 : budget, method.c_str(), nfe,
                    rewards, calls);
        for (const auto& m : metrics) {
          double mean = 0;
          for (double v : row.per_prompt[m]) mean += v / row.per_prompt[m].size();
          std::printf(" %15.4f", mean);
        }
        std::printf(" %10.4f %8.1f %8.1f\n", diversity, model, wall);
        const proto::SearchSpec& planned = runs[0].spec().search();
        if (planned.has_plan()) std::printf("    %s\n", planned.plan().summary().c_str());
        std::fflush(stdout);
        if (ends_with(method, "@calls") && (method.rfind("evosearch", 0) == 0 || method.rfind("lookahead", 0) == 0)) {
          print_climb_signal(method, runs);
        }
        rows.push_back(std::move(row));
      }
      print_paired(rows, references, metrics, budget);
      std::fflush(stdout);
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(scratch, ec);
  return 0;
}
