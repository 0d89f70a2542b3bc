// Reading a job spec and turning its search section into a searcher.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "coordinator/search/evo_searcher.h"
#include "coordinator/search/lookahead_searcher.h"
#include "coordinator/search/searcher.h"
#include "evosearch/bundle.pb.h"
#include "evosearch/job.pb.h"
#include "worker/sampler_config.h"

namespace evosearch {

// Reads SPEC (.json, or .yaml/.yml when built with yaml-cpp), fills defaults that do not depend on the bundle, resolves paths against
// the spec's folder. Unknown fields and bad values are errors that name the field. load_job_spec also
// plans a search sized by its budget (reading the bundle's manifest for the step count).
StatusOr<proto::JobSpec> load_job_spec(const std::string& path);
StatusOr<proto::JobSpec> parse_job_spec(const std::string& json, const std::string& origin, const std::string& base_dir);

// The spec's sampler settings over the bundle's defaults, validated (errors name the field).
StatusOr<SamplerConfig> sampler_config(const proto::JobSpec& spec, const proto::BundleManifest& manifest);

// The searcher the spec asks for, for a sampler of `steps` steps (planned first when the spec
// leaves sizes open). Validates the schedule.
StatusOr<std::unique_ptr<Searcher>> make_searcher(const proto::SearchSpec& search, int steps, SearchKey key);

// The EvoSearch schedule of the spec (its default when unset), for budgets.
StatusOr<EvoSearchConfig> evosearch_config(const proto::SearchSpec& search, int steps);
// evosearch-lookahead's schedule: EvoSearch's, with screened and lookahead_steps (defaults when unset).
StatusOr<LookaheadConfig> lookahead_config(const proto::SearchSpec& search, int steps);

// Whether the spec leaves the sizes of its method open: an EvoSearch schedule with a budget but no
// S and K, evosearch-lookahead without a schedule, best-of-n without n, particles without a count.
bool needs_plan(const proto::SearchSpec& search);
// Plans what needs_plan() names from the budget (nfe_budget, model_calls_budget, else the NFE of the
// EvoSearch schedule) with coordinator/search/planner.h, fills the chosen fields in and records the
// budget asked for and used in search.plan. Does nothing when nothing is open. A
// suite_model_calls_budget is planned as an even share per prompt of the suite's `prompts`.
Status plan_search(proto::SearchSpec& search, int steps, uint32_t prompts = 0);
// plan_search with the spec's step count (the bundle's default when unset) and its suite's prompt
// count. load_job_spec calls it.
Status plan_job_spec(proto::JobSpec& spec, const proto::BundleManifest& manifest);

// suite_model_calls_budget (coordinator/search/suite_budget.h), for a planned spec: the searcher
// generation after which the budget is shared out (after every prompt's first two evolution
// generations: 2 for evosearch, 4 for evosearch-lookahead, whose evolution generations each
// screen, then roll out), what those generations cost one prompt in model calls, and the searcher
// of a prompt given `budget` model calls in all, whose first two evolution generations are the
// planned spec's.
uint32_t suite_barrier(const proto::SearchSpec& planned);
StatusOr<int64_t> suite_head_cost(const proto::SearchSpec& planned, int steps);
StatusOr<std::unique_ptr<Searcher>> make_suite_searcher(const proto::SearchSpec& planned, int steps, SearchKey key,
                                                        int64_t budget);

}  // namespace evosearch
