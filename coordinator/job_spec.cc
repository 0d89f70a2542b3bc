#include "coordinator/job_spec.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>

#include <google/protobuf/util/json_util.h>
#include <spdlog/fmt/fmt.h>

#include "coordinator/search/best_of_n_searcher.h"
#include "coordinator/search/budget.h"
#include "coordinator/search/evo_searcher.h"
#include "coordinator/search/lookahead_searcher.h"
#include "coordinator/search/particle_searcher.h"
#include "coordinator/search/planner.h"
#include "coordinator/search/suite_budget.h"
#include "coordinator/yaml_to_json.h"
#include "common/atomic_file.h"
#include "jobs/prompt_suite.h"
#include "worker/manifest.h"
#include "worker/model_dtype.h"

namespace evosearch {

// Candidates per model call: far above what any accelerator runs at once; a batch is also never
// larger than the candidates in flight.
constexpr int kMaxBatchSize = 65536;
constexpr int kMaxAttempts = 1000;

namespace fs = std::filesystem;

namespace {

// Every real number a spec can set must be finite (JSON lets "NaN" and "Infinity" through), and
// the guidance scale at least 0: errors name the field here rather than the model later.
Status check_numbers(const proto::JobSpec& spec) {
  const proto::SamplerSpec& sampler = spec.sampler();
  const proto::SearchSpec& search = spec.search();
  const std::pair<const char*, std::optional<double>> fields[] = {
      {"sampler.eta", sampler.has_eta() ? std::optional<double>(sampler.eta()) : std::nullopt},
      {"sampler.shift", sampler.has_shift() ? std::optional<double>(sampler.shift()) : std::nullopt},
      {"sampler.guidance_scale", sampler.has_guidance_scale() ? std::optional<double>(sampler.guidance_scale()) : std::nullopt},
      {"search.tournament_fraction", search.has_tournament_fraction() ? std::optional<double>(search.tournament_fraction()) : std::nullopt},
      {"search.beta", search.has_beta() ? std::optional<double>(search.beta()) : std::nullopt},
      {"search.lambda", search.has_lambda() ? std::optional<double>(search.lambda()) : std::nullopt},
  };
  for (const auto& [field, value] : fields) {
    if (value && !std::isfinite(*value)) {
      return InvalidArgument(std::string(field) + ": " + std::to_string(*value) + " is not a finite number");
    }
  }
  if (sampler.has_guidance_scale() && sampler.guidance_scale() < 0) {
    return InvalidArgument("sampler.guidance_scale: " + std::to_string(sampler.guidance_scale()) +
                           " is negative; expected 0 or more (1 = no guidance)");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<proto::JobSpec> parse_job_spec(const std::string& json, const std::string& origin, const std::string& base_dir) {
  proto::JobSpec spec;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto parsed = google::protobuf::util::JsonStringToMessage(json, &spec, options);
  if (!parsed.ok()) {
    return InvalidArgument(origin + ": " + std::string(parsed.message()) + " (fields are documented in proto/job.proto)");
  }
  for (const auto& [field, value] : {std::pair<const char*, const std::string*>{"bundle", &spec.bundle()},
                                     {"prompts", &spec.prompts()}, {"output", &spec.output()}}) {
    if (value->empty()) return InvalidArgument(origin + ": " + field + ": missing; expected a path");
  }
  auto resolve = [&](const std::string& p) { return fs::path(p).is_absolute() ? p : (fs::path(base_dir) / p).lexically_normal().string(); };
  spec.set_bundle(resolve(spec.bundle()));
  spec.set_prompts(resolve(spec.prompts()));
  spec.set_output(resolve(spec.output()));
  if (spec.name().empty()) spec.set_name(fs::path(origin).stem().string());
  if (spec.batch_size() == 0) spec.set_batch_size(32);
  if (spec.batch_size() < 0 || spec.batch_size() > kMaxBatchSize) {
    return InvalidArgument(origin + ": batch_size: expected 1.." + std::to_string(kMaxBatchSize) + ", got " +
                           std::to_string(spec.batch_size()));
  }
  if (spec.batch_size_policy().empty()) spec.set_batch_size_policy("auto");
  if (spec.batch_size_policy() != "auto" && spec.batch_size_policy() != "measure" &&
      spec.batch_size_policy() != "fixed") {
    return InvalidArgument(origin + ": batch_size_policy: unknown '" + spec.batch_size_policy() +
                           "'; expected auto (the fastest size up to batch_size: from the batch-size profile cache, "
                           "else measured), measure (measured now, even when a profile is cached) or fixed "
                           "(exactly batch_size)");
  }
  if (spec.device().empty()) spec.set_device("auto");
  if (spec.prompts_in_flight() < 0) return InvalidArgument(origin + ": prompts_in_flight: expected a positive number");
  if (spec.max_attempts() == 0) spec.set_max_attempts(3);
  if (spec.max_attempts() < 0 || spec.max_attempts() > kMaxAttempts) {
    return InvalidArgument(origin + ": max_attempts: expected 1.." + std::to_string(kMaxAttempts) +
                           " (claims of a prompt before a failure of its own fails it), got " + std::to_string(spec.max_attempts()));
  }
  if (spec.memory_limit_mb() < 0) return InvalidArgument(origin + ": memory_limit_mb: expected a positive number of MiB, or 0 for 90% of the memory available");
  if (!spec.model_dtype().empty()) RETURN_IF_ERROR(check_model_dtype(spec.model_dtype(), "model_dtype").with_context(origin));
  RETURN_IF_ERROR(check_numbers(spec).with_context(origin));
  proto::SearchSpec* s = spec.mutable_search();
  if (s->method().empty()) s->set_method("evosearch");
  const std::string m = s->method();
  if (m != "evosearch" && m != "evosearch-lookahead" && m != "best-of-n" && m != "particles" && m != "none") {
    return InvalidArgument(origin + ": search.method: unknown '" + m +
                           "'; expected evosearch, evosearch-lookahead, best-of-n, particles or none");
  }
  const int budgets = (s->nfe_budget() != 0) + (s->model_calls_budget() != 0) + (s->model_seconds_budget() != 0) +
                      (s->suite_model_calls_budget() != 0);
  if (s->nfe_budget() < 0 || s->model_calls_budget() < 0 || !(s->model_seconds_budget() >= 0) ||
      !std::isfinite(s->model_seconds_budget()) || s->suite_model_calls_budget() < 0 || budgets > 1) {
    return InvalidArgument(origin + ": search.nfe_budget, search.model_calls_budget, search.model_seconds_budget, "
                           "search.suite_model_calls_budget: expected at most one, positive");
  }
  if (s->suite_model_calls_budget() > 0) {
    if (m != "evosearch" && m != "evosearch-lookahead") {
      return InvalidArgument(origin + ": search.suite_model_calls_budget: method '" + m +
                             "' cannot take it; expected evosearch or evosearch-lookahead (the budget is shared out "
                             "after every prompt's first two evolution generations), or a per-prompt budget");
    }
    if (!s->evolution_steps().empty() || !s->population().empty() || !s->screened().empty() ||
        !s->lookahead_steps().empty() || s->has_elites()) {
      return InvalidArgument(origin + ": search.suite_model_calls_budget: plans the schedule itself; leave "
                             "evolution_steps, population, elites, screened and lookahead_steps unset");
    }
  }
  s->clear_plan();
  return spec;
}

StatusOr<proto::JobSpec> load_job_spec(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, read_file(path));
  const std::string extension = fs::path(path).extension().string();
  if (extension == ".yaml" || extension == ".yml") {
    ASSIGN_OR_RETURN(text, yaml_to_json(text, path));
  } else if (extension != ".json") {
    return InvalidArgument(path + ": expected a job spec ending in .json, .yaml or .yml");
  }
  // Absolute paths, so the same spec run from another folder is recognised as the same job.
  ASSIGN_OR_RETURN(proto::JobSpec spec, parse_job_spec(text, path, fs::absolute(path).parent_path().string()));
  // The spec as run names the planned schedule; the step count it depends on may be the bundle's.
  // A budget in seconds is planned when the job starts, from costs measured on its device.
  if (needs_plan(spec.search()) && !(spec.search().model_seconds_budget() > 0)) {
    ASSIGN_OR_RETURN(const proto::BundleManifest manifest, load_manifest(spec.bundle()));
    RETURN_IF_ERROR(plan_job_spec(spec, manifest).with_context(path));
  }
  return spec;
}

StatusOr<SamplerConfig> sampler_config(const proto::JobSpec& spec, const proto::BundleManifest& m) {
  SamplerConfig c = default_sampler(m);
  const proto::SamplerSpec& s = spec.sampler();
  if (!s.sampler().empty()) {
    auto kind = parse_sampler_kind(s.sampler());
    if (!kind.ok()) return kind.status().with_context("sampler.sampler");
    c.kind = *kind;
  }
  if (s.steps() != 0) c.steps = s.steps();
  if (s.has_eta()) c.eta = s.eta();
  if (s.order() != 0) c.order = s.order();
  if (s.has_shift()) c.shift = s.shift();
  const Status valid = validate_sampler(c, m.model_kind());
  if (!valid.ok()) return valid.with_context("sampler");
  return c;
}

StatusOr<EvoSearchConfig> evosearch_config(const proto::SearchSpec& s, int steps) {
  EvoSearchConfig c;
  c.steps = steps;
  if (s.evolution_steps().empty() && s.population().empty()) {
    // The paper's schedule: evolution at 0, 20%, 40% and 60% of the steps (fewer on schedules
    // shorter than 5 steps, where some of those coincide).
    for (int step : {0, steps / 5, 2 * steps / 5, 3 * steps / 5}) {
      if (c.evolution_steps.empty() || step > c.evolution_steps.back()) c.evolution_steps.push_back(step);
    }
    c.population.assign(c.evolution_steps.size() + 1, 4);
    c.population[0] = 8;
  } else {
    c.evolution_steps.assign(s.evolution_steps().begin(), s.evolution_steps().end());
    c.population.assign(s.population().begin(), s.population().end());
  }
  if (s.has_elites()) c.elites = s.elites();
  if (s.has_tournament_fraction()) c.tournament_fraction = s.tournament_fraction();
  if (s.has_beta()) c.beta = s.beta();
  const Status valid = validate(c);
  if (!valid.ok()) return valid.with_context("search");
  return c;
}

StatusOr<LookaheadConfig> lookahead_config(const proto::SearchSpec& s, int steps) {
  LookaheadConfig c;
  ASSIGN_OR_RETURN(c.evo, evosearch_config(s, steps));
  if (s.screened().empty()) {
    for (int k : c.evo.population) c.screened.push_back(4 * k);
  } else {
    c.screened.assign(s.screened().begin(), s.screened().end());
  }
  if (s.lookahead_steps().empty()) {
    c.lookahead_steps = default_lookahead_steps(c.evo);
  } else {
    c.lookahead_steps.assign(s.lookahead_steps().begin(), s.lookahead_steps().end());
  }
  const Status valid = validate(c);
  if (!valid.ok()) return valid.with_context("search");
  return c;
}

namespace {

StatusOr<ParticleConfig> particle_config(const proto::SearchSpec& s, int steps) {
  ParticleConfig p;
  p.steps = steps;
  p.particles = std::max(1, s.particles());
  if (s.has_lambda()) p.lambda = s.lambda();
  if (s.resample_interval() != 0) p.interval = s.resample_interval();
  p.window_start = s.resample_window_start();
  if (s.resample_window_end() != 0) p.window_end = s.resample_window_end();
  if (!s.potential().empty()) {
    ASSIGN_OR_RETURN(p.potential, parse_potential(s.potential()));
  }
  p.adaptive = s.adaptive_resampling();
  const Status valid = validate(p);
  if (!valid.ok()) return valid.with_context("search");
  return p;
}

std::string join(const std::vector<int>& v) {
  std::string out;
  for (int x : v) out += (out.empty() ? "" : ", ") + std::to_string(x);
  return "[" + out + "]";
}

}  // namespace

bool needs_plan(const proto::SearchSpec& s) {
  const std::string& m = s.method();
  const bool budget = s.nfe_budget() > 0 || s.model_calls_budget() > 0 || s.model_seconds_budget() > 0 ||
                      s.suite_model_calls_budget() > 0;
  const bool schedule = !s.evolution_steps().empty() || !s.population().empty();
  if (m == "evosearch") return budget && !schedule;
  if (m == "evosearch-lookahead") return !schedule && s.screened().empty() && s.lookahead_steps().empty();
  if (m == "best-of-n") return s.n() == 0;
  if (m == "particles") return s.particles() == 0;
  return false;
}

Status plan_search(proto::SearchSpec& s, int steps, uint32_t prompts) {
  if (!needs_plan(s)) return Status::Ok();
  proto::SearchPlan plan;
  Budget budget;
  if (s.suite_model_calls_budget() > 0) {
    if (prompts == 0) return Internal("search.suite_model_calls_budget: planned without the suite's prompt count");
    plan.set_budget("suite_model_calls_budget");
    plan.set_suite_budget(s.suite_model_calls_budget());
    plan.set_suite_prompts(prompts);
    budget = Budget{true, s.suite_model_calls_budget() / prompts};
  } else if (s.model_seconds_budget() > 0) {
    // In microseconds, each call kind at the cost measured on the device (the caller's plan fields).
    const proto::SearchPlan& measured = s.plan();
    if (!(measured.seconds_per_nfe() > 0)) {
      return FailedPrecondition(
          "search.model_seconds_budget: planned from the model's call costs, measured on the device when `evosearch "
          "run` first starts the job in one process (and kept in its job record); a distributed run can resume such "
          "a job but not start one: start it in one process, or give model_calls_budget");
    }
    plan.set_seconds_per_nfe(measured.seconds_per_nfe());
    plan.set_seconds_per_decode(measured.seconds_per_decode());
    plan.set_seconds_per_reward(measured.seconds_per_reward());
    plan.set_measured_batch(measured.measured_batch());
    plan.set_budget("model_seconds_budget");
    const auto micros = [](double seconds) { return static_cast<int64_t>(std::llround(seconds * 1e6)); };
    budget.amount = micros(s.model_seconds_budget());
    budget.per_nfe = std::max<int64_t>(1, micros(measured.seconds_per_nfe()));
    budget.per_decode = micros(measured.seconds_per_decode());
    budget.per_reward = micros(measured.seconds_per_reward());
  } else if (s.model_calls_budget() > 0) {
    plan.set_budget("model_calls_budget");
    budget = Budget{true, s.model_calls_budget()};
  } else if (s.nfe_budget() > 0) {
    plan.set_budget("nfe_budget");
    budget = Budget{false, s.nfe_budget()};
  } else {  // equal NFE with the spec's EvoSearch schedule (its default when unset)
    ASSIGN_OR_RETURN(const EvoSearchConfig evo, evosearch_config(s, steps));
    plan.set_budget("evosearch_nfe");
    budget = Budget{false, evosearch_nfe(evo)};
  }
  ASSIGN_OR_RETURN(EvoSearchConfig base, evosearch_config(proto::SearchSpec(), steps));
  if (s.has_tournament_fraction()) base.tournament_fraction = s.tournament_fraction();
  if (s.has_beta()) base.beta = s.beta();
  SearchCost cost;
  std::string schedule;
  auto set_schedule = [&](const EvoSearchConfig& evo) {
    s.clear_evolution_steps();
    s.clear_population();
    for (int v : evo.evolution_steps) s.add_evolution_steps(v);
    for (int v : evo.population) s.add_population(v);
    s.set_elites(evo.elites);
    for (const char* f : {"evolution_steps", "population", "elites"}) plan.add_fields(f);
    schedule = "S = " + join(evo.evolution_steps) + ", K = " + join(evo.population) + ", elites " + std::to_string(evo.elites);
  };
  if (s.method() == "evosearch") {
    const EvoSearchConfig evo = plan_evosearch(budget, base);
    set_schedule(evo);
    cost = evosearch_cost(evo);
  } else if (s.method() == "evosearch-lookahead") {
    const LookaheadConfig c = plan_lookahead(budget, base);
    set_schedule(c.evo);
    for (int v : c.screened) s.add_screened(v);
    for (int v : c.lookahead_steps) s.add_lookahead_steps(v);
    for (const char* f : {"screened", "lookahead_steps"}) plan.add_fields(f);
    schedule += ", screened " + join(c.screened) + ", lookahead_steps " + join(c.lookahead_steps);
    cost = lookahead_cost(c);
  } else if (s.method() == "best-of-n") {
    s.set_n(plan_best_of_n(budget, steps));
    plan.add_fields("n");
    schedule = "n = " + std::to_string(s.n());
    cost = best_of_n_cost(s.n(), steps);
  } else {
    ASSIGN_OR_RETURN(ParticleConfig p, particle_config(s, steps));
    p.particles = plan_particles(budget, p);
    s.set_particles(p.particles);
    plan.add_fields("particles");
    schedule = std::to_string(p.particles) + " particles";
    cost = particle_cost(p);
  }
  plan.set_requested(budget.amount);
  plan.set_used(budget.of(cost));
  plan.set_rounded(rounding(plan.requested(), plan.used()));
  plan.set_nfe(cost.nfe);
  plan.set_model_calls(cost.model_calls());
  if (budget.weighted()) {
    plan.set_requested_seconds(s.model_seconds_budget());
    plan.set_used_seconds(static_cast<double>(plan.used()) / 1e6);
    plan.set_summary(fmt::format(
        "planned {} for model_seconds_budget {:g} s: {}; about {:.4g} s of model time per prompt (rounded {}; {} NFE, "
        "{} model calls; measured at batch {}: {:.4g} ms per NFE, {:.4g} ms per decode, {:.4g} ms per reward call)",
        s.method(), plan.requested_seconds(), schedule, plan.used_seconds(), plan.rounded(), cost.nfe,
        cost.model_calls(), plan.measured_batch(), 1e3 * plan.seconds_per_nfe(), 1e3 * plan.seconds_per_decode(),
        1e3 * plan.seconds_per_reward()));
    *s.mutable_plan() = plan;
    return Status::Ok();
  }
  const std::string unit = budget.model_calls ? " model calls" : " NFE";
  if (plan.suite_prompts() > 0) {
    ASSIGN_OR_RETURN(const std::unique_ptr<Searcher> planned, make_searcher(s, steps, SearchKey{}));
    if (planned->generation_count() <= suite_barrier(s)) {
      return InvalidArgument("search.suite_model_calls_budget: " + std::to_string(plan.suite_budget()) + " over " +
                             std::to_string(prompts) + " prompts is " + std::to_string(budget.amount) +
                             " model calls each, too few for two evolution generations and a later one (" + schedule +
                             "); give more, or a per-prompt model_calls_budget");
    }
    plan.set_summary("planned " + s.method() + " for suite_model_calls_budget " + std::to_string(plan.suite_budget()) +
                     " over " + std::to_string(prompts) + " prompts: the first two evolution generations as for an "
                     "even share of " + std::to_string(budget.amount) + " model calls each (" + schedule + "); the "
                     "later ones of each prompt planned for its share once every prompt has run those");
    *s.mutable_plan() = plan;
    return Status::Ok();
  }
  plan.set_summary("planned " + s.method() + " for " + plan.budget() + " " + std::to_string(plan.requested()) + ": " +
                   schedule + "; uses " + std::to_string(plan.used()) + unit + " per prompt (rounded " + plan.rounded() +
                   "; " + std::to_string(cost.nfe) + " NFE, " + std::to_string(cost.model_calls()) + " model calls)");
  *s.mutable_plan() = plan;
  return Status::Ok();
}

Status plan_job_spec(proto::JobSpec& spec, const proto::BundleManifest& manifest) {
  ASSIGN_OR_RETURN(const SamplerConfig sampler, sampler_config(spec, manifest));
  uint32_t prompts = 0;
  if (spec.search().suite_model_calls_budget() > 0) {
    ASSIGN_OR_RETURN(const std::vector<PromptEntry> suite, read_prompt_suite(spec.prompts()));
    prompts = static_cast<uint32_t>(suite.size());
  }
  return plan_search(*spec.mutable_search(), sampler.steps, prompts);
}

StatusOr<std::unique_ptr<Searcher>> make_searcher(const proto::SearchSpec& spec, int steps, SearchKey key) {
  proto::SearchSpec s = spec;
  RETURN_IF_ERROR(plan_search(s, steps));
  ASSIGN_OR_RETURN(const EvoSearchConfig evo, evosearch_config(s, steps));
  if (s.method() == "evosearch") return std::unique_ptr<Searcher>(new EvoSearcher(evo, key));
  if (s.method() == "none") return std::unique_ptr<Searcher>(new BestOfNSearcher(1, steps, "none"));
  if (s.method() == "evosearch-lookahead") {
    ASSIGN_OR_RETURN(LookaheadConfig c, lookahead_config(s, steps));
    return std::unique_ptr<Searcher>(new LookaheadSearcher(std::move(c), key));
  }
  if (s.method() == "best-of-n") {
    if (s.n() < 0) return InvalidArgument("search.n: expected a positive number");
    return std::unique_ptr<Searcher>(new BestOfNSearcher(s.n(), steps));
  }
  if (s.particles() < 0) return InvalidArgument("search.particles: expected a positive number");
  ASSIGN_OR_RETURN(const ParticleConfig p, particle_config(s, steps));
  return std::unique_ptr<Searcher>(new ParticleSearcher(p, key));
}

uint32_t suite_barrier(const proto::SearchSpec& planned) {
  // evosearch-lookahead runs each evolution generation as two searcher generations (screen, roll out).
  return static_cast<uint32_t>((planned.method() == "evosearch-lookahead" ? 2 : 1) * kSuiteKeptGenerations);
}

StatusOr<int64_t> suite_head_cost(const proto::SearchSpec& planned, int steps) {
  const Budget calls{true, 0};
  if (planned.method() == "evosearch-lookahead") {
    ASSIGN_OR_RETURN(const LookaheadConfig c, lookahead_config(planned, steps));
    return calls.of(lookahead_head_cost(c, kSuiteKeptGenerations));
  }
  ASSIGN_OR_RETURN(const EvoSearchConfig c, evosearch_config(planned, steps));
  return calls.of(evosearch_head_cost(c, kSuiteKeptGenerations));
}

StatusOr<std::unique_ptr<Searcher>> make_suite_searcher(const proto::SearchSpec& planned, int steps, SearchKey key,
                                                        int64_t budget) {
  const Budget calls{true, budget};
  const std::string context = "search (a suite budget's share of " + std::to_string(budget) + " model calls)";
  if (planned.method() == "evosearch-lookahead") {
    ASSIGN_OR_RETURN(const LookaheadConfig even, lookahead_config(planned, steps));
    LookaheadConfig c = plan_lookahead_rest(calls, even, kSuiteKeptGenerations);
    RETURN_IF_ERROR(validate(c).with_context(context));
    return std::unique_ptr<Searcher>(new LookaheadSearcher(std::move(c), key));
  }
  ASSIGN_OR_RETURN(const EvoSearchConfig even, evosearch_config(planned, steps));
  EvoSearchConfig c = plan_evosearch_rest(calls, even, kSuiteKeptGenerations);
  RETURN_IF_ERROR(validate(c).with_context(context));
  return std::unique_ptr<Searcher>(new EvoSearcher(std::move(c), key));
}

}  // namespace evosearch
