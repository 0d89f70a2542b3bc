#include "coordinator/job_spec.h"

#include <cmath>
#include <filesystem>
#include <optional>

#include <google/protobuf/util/json_util.h>

#include "coordinator/search/best_of_n_searcher.h"
#include "coordinator/search/budget.h"
#include "coordinator/search/evo_searcher.h"
#include "coordinator/search/particle_searcher.h"
#include "coordinator/yaml_to_json.h"
#include "jobs/atomic_file.h"

namespace evosearch {
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
  if (spec.batch_size() < 0) return InvalidArgument(origin + ": batch_size: expected a positive number");
  if (spec.device().empty()) spec.set_device("auto");
  if (spec.prompts_in_flight() < 0) return InvalidArgument(origin + ": prompts_in_flight: expected a positive number");
  if (spec.memory_limit_mb() < 0) return InvalidArgument(origin + ": memory_limit_mb: expected a positive number of MiB, or 0 for 90% of the memory available");
  RETURN_IF_ERROR(check_numbers(spec).with_context(origin));
  proto::SearchSpec* s = spec.mutable_search();
  if (s->method().empty()) s->set_method("evosearch");
  const std::string m = s->method();
  if (m != "evosearch" && m != "best-of-n" && m != "particles" && m != "none") {
    return InvalidArgument(origin + ": search.method: unknown '" + m + "'; expected evosearch, best-of-n, particles or none");
  }
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
  return parse_job_spec(text, path, fs::absolute(path).parent_path().string());
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

StatusOr<std::unique_ptr<Searcher>> make_searcher(const proto::SearchSpec& s, int steps, SearchKey key) {
  ASSIGN_OR_RETURN(const EvoSearchConfig evo, evosearch_config(s, steps));
  const int64_t budget = s.nfe_budget() > 0 ? s.nfe_budget() : evosearch_nfe(evo);
  if (s.method() == "evosearch") return std::unique_ptr<Searcher>(new EvoSearcher(evo, key));
  if (s.method() == "none") return std::unique_ptr<Searcher>(new BestOfNSearcher(1, steps, "none"));
  if (s.method() == "best-of-n") {
    if (s.n() < 0) return InvalidArgument("search.n: expected a positive number");
    const int n = s.n() > 0 ? s.n() : population_for_budget(budget, steps);
    return std::unique_ptr<Searcher>(new BestOfNSearcher(n, steps));
  }
  ParticleConfig p;
  p.steps = steps;
  p.particles = s.particles() > 0 ? s.particles() : population_for_budget(budget, steps);
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
  return std::unique_ptr<Searcher>(new ParticleSearcher(p, key));
}

}  // namespace evosearch
