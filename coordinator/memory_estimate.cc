#include "coordinator/memory_estimate.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "common/system_memory.h"
#include "coordinator/job_spec.h"
#include "coordinator/search/budget.h"
#include "coordinator/search/planner.h"
#include "coordinator/search/suite_budget.h"

namespace evosearch {
namespace {

constexpr double kFloatBytes = 4;
// Protobuf task and result, keyed-noise bookkeeping and archive entry per candidate (measured
// sizes are 100-300 bytes; rounded up).
constexpr double kPerCandidateBytes = 512;
// Per sampler step and prompt: timesteps, sigmas and coefficients of the schedule (doubles).
constexpr double kPerStepBytes = 64;

double elements(const google::protobuf::RepeatedField<int64_t>& shape) {
  double n = 1;
  for (int64_t d : shape) n *= static_cast<double>(std::max<int64_t>(d, 1));
  return n;
}

double elements(const std::vector<int64_t>& shape) {
  double n = 1;
  for (int64_t d : shape) n *= static_cast<double>(std::max<int64_t>(d, 1));
  return n;
}

// Bytes per number inside the modules: the spec's model_dtype, else the manifest's dtype.
double module_bytes(const proto::JobSpec& spec, const proto::BundleManifest& manifest) {
  const std::string& dtype = spec.model_dtype().empty() ? manifest.dtype() : spec.model_dtype();
  return dtype == "bf16" || dtype == "fp16" ? 2 : kFloatBytes;
}

// Latents one prompt's searcher keeps at its peak, and the most candidates of one generation.
struct SearchSize {
  double kept_states = 0;
  double candidates = 0;
  std::string field;  // what sizes it, for the message
};

StatusOr<SearchSize> search_size(const proto::SearchSpec& spec, int steps) {
  SearchSize size;
  if (spec.method() == "none") return SearchSize{1, 1, "search.method"};
  proto::SearchSpec s = spec;  // sized as it will run: planned when the spec leaves sizes open
  RETURN_IF_ERROR(plan_search(s, steps));
  const std::string& m = s.method();
  const std::string budget_field = s.model_seconds_budget() > 0       ? "search.model_seconds_budget"
                                   : s.model_calls_budget() > 0       ? "search.model_calls_budget"
                                   : s.suite_model_calls_budget() > 0 ? "search.suite_model_calls_budget"
                                                                      : "search.nfe_budget";
  // A suite budget: sized at the largest share a prompt can get (suite_budget.h's weights).
  std::optional<Budget> largest;
  if (s.plan().suite_prompts() > 0) {
    ASSIGN_OR_RETURN(const int64_t head, suite_head_cost(s, steps));
    largest = Budget{true, largest_suite_share(s.suite_model_calls_budget(), head, s.plan().suite_prompts())};
  }
  if (m == "evosearch" || m == "evosearch-lookahead") {
    ASSIGN_OR_RETURN(EvoSearchConfig evo, evosearch_config(s, steps));
    if (largest && m == "evosearch") evo = plan_evosearch_rest(*largest, evo, kSuiteKeptGenerations);
    if (largest && m == "evosearch-lookahead") {
      ASSIGN_OR_RETURN(const LookaheadConfig first, lookahead_config(s, steps));
      evo = plan_lookahead_rest(*largest, first, kSuiteKeptGenerations).evo;
    }
    // Generation g keeps its candidates' states at every later evolution step and at T
    // (EvoSearcher::keep_steps); bounded by keeping all of them at once.
    const size_t n = evo.evolution_steps.size();
    for (size_t g = 0; g < evo.population.size(); ++g) {
      const double k = evo.population[g];
      size.kept_states += k * static_cast<double>(n + 1 - std::min(g, n));
      size.candidates = std::max(size.candidates, k);
    }
    size.field = s.has_plan() ? budget_field : "search.population";
    if (m == "evosearch") return size;
    // evosearch-lookahead also keeps a generation's screened children (states and x0
    // predictions) until it has chosen which continue.
    ASSIGN_OR_RETURN(LookaheadConfig c, lookahead_config(s, steps));
    if (largest) c = plan_lookahead_rest(*largest, c, kSuiteKeptGenerations);
    const double screened = *std::max_element(c.screened.begin(), c.screened.end());
    size.kept_states += 2 * screened;
    size.candidates = std::max(size.candidates, screened);
    if (!s.has_plan()) size.field = "search.screened";
    return size;
  }
  if (m == "best-of-n") {
    size.candidates = s.n();
    size.kept_states = size.candidates;  // every final sample, until the generation is scored
    size.field = s.has_plan() ? budget_field : "search.n";
    return size;
  }
  // Particles: each keeps its state and its x0 estimate, and its parent until resampled.
  size.candidates = s.particles();
  size.kept_states = 3 * size.candidates;
  size.field = s.has_plan() ? budget_field : "search.particles";
  return size;
}

// The job's memory limit in bytes: memory_limit_mb when set, else 90% of what is available.
double memory_limit(const proto::JobSpec& spec) {
  return spec.memory_limit_mb() > 0 ? static_cast<double>(spec.memory_limit_mb()) * 1024 * 1024
                                    : 0.9 * static_cast<double>(available_memory_bytes());
}

}  // namespace

size_t prompts_in_flight(const proto::JobSpec& spec, int workers) {
  if (spec.prompts_in_flight() > 0) return static_cast<size_t>(spec.prompts_in_flight());
  return static_cast<size_t>(std::max(8, 2 * workers));
}

std::string MemoryEstimate::describe() const {
  return "states kept " + human_bytes(states) + " + model batch " + human_bytes(batch) + " + bookkeeping " +
         human_bytes(bookkeeping) + " + conditions " + human_bytes(conditions);
}

StatusOr<MemoryEstimate> estimate_job_memory(const proto::JobSpec& spec, const proto::BundleManifest& manifest,
                                             int steps, const std::vector<int64_t>& pixel_shape,
                                             size_t prompts_in_flight, int workers) {
  ASSIGN_OR_RETURN(const SearchSize size, search_size(spec.search(), steps));
  const double latent = elements(manifest.latent_shape()) * kFloatBytes;
  const double pixel_count = pixel_shape.empty() ? elements(manifest.latent_shape()) : elements(pixel_shape);
  const double pixels = pixel_count * kFloatBytes;
  const double in_module = module_bytes(spec, manifest);
  const double prompts = static_cast<double>(std::max<size_t>(prompts_in_flight, 1));
  const int batch = std::max(1, spec.batch_size());
  MemoryEstimate e;
  e.states = prompts * size.kept_states * latent / std::max(workers, 1);
  e.bookkeeping = prompts * (size.candidates * kPerCandidateBytes + steps * kPerStepBytes);
  // Each prompt's condition (at Wan's 512 tokens of width 4096, 8 MB) and the null prompt's, kept
  // by every worker; a batch stacks its samples' conditions and builds the CFG pair of them once.
  const double condition = static_cast<double>(std::max<int64_t>(manifest.condition_dim(), 1)) * kFloatBytes;
  e.conditions = (prompts + 1) * condition + 3 * batch * condition;
  // A batch holds x, its CFG copy, the prediction, noise and the sampler's history (~8 float32
  // latents per candidate; below fp32, also the CFG pair's inputs and outputs in the module dtype,
  // ~4 latents), then per sample decoded at once its float32 pixels and one reward's activations
  // in the module dtype (~2 images): as many samples as the limit leaves room for.
  const double module_copies = in_module < kFloatBytes ? 4 * elements(manifest.latent_shape()) * in_module : 0;
  const double latents = batch * (8 * latent + module_copies), per_decoded = pixels + 2 * pixel_count * in_module;
  const double limit = memory_limit(spec), room = limit - e.states - e.bookkeeping - e.conditions - latents;
  e.decode_batch = limit <= 0 ? batch  // nothing known to fit into
                              : std::clamp(static_cast<int>(std::min<double>(batch, std::floor(room / per_decoded))), 1, batch);
  e.batch = latents + e.decode_batch * per_decoded;
  return e;
}

Status check_job_memory(const proto::JobSpec& spec, const proto::BundleManifest& manifest, int steps,
                        const std::vector<int64_t>& pixel_shape, size_t prompts_in_flight, int workers) {
  ASSIGN_OR_RETURN(const SearchSize size, search_size(spec.search(), steps));
  ASSIGN_OR_RETURN(const MemoryEstimate e,
                   estimate_job_memory(spec, manifest, steps, pixel_shape, prompts_in_flight, workers));
  const bool explicit_limit = spec.memory_limit_mb() > 0;
  const double limit = memory_limit(spec);
  if (limit <= 0 || e.total() <= limit) return Status::Ok();
  const std::string per_worker = workers > 1 ? " per worker (" + std::to_string(workers) + " workers share the states)" : "";
  std::string hint;
  if (e.states >= e.batch && e.states >= e.bookkeeping) {
    hint = "lower " + size.field + " or prompts_in_flight (now " + std::to_string(prompts_in_flight) + ")";
  } else if (e.batch >= e.bookkeeping) {
    hint = "lower batch_size (now " + std::to_string(spec.batch_size()) + ")";
  } else {
    hint = "lower " + size.field + ", sampler.steps or prompts_in_flight";
  }
  return InvalidArgument("the job would need about " + human_bytes(e.total()) + per_worker + " (" + e.describe() +
                           ") but " +
                           (explicit_limit ? "memory_limit_mb allows " : "90% of the memory available is ") +
                           human_bytes(limit) + ": " + hint + (explicit_limit ? "" : ", or set memory_limit_mb to override"));
}

}  // namespace evosearch
