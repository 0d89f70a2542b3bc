// Reading a job spec and turning its search section into a searcher.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "coordinator/search/evo_searcher.h"
#include "coordinator/search/searcher.h"
#include "evosearch/bundle.pb.h"
#include "evosearch/job.pb.h"
#include "worker/sampler_config.h"

namespace evosearch {

// Reads SPEC (.json, or .yaml/.yml when built with yaml-cpp), fills defaults that do not depend on the bundle, resolves paths against
// the spec's folder. Unknown fields and bad values are errors that name the field.
StatusOr<proto::JobSpec> load_job_spec(const std::string& path);
StatusOr<proto::JobSpec> parse_job_spec(const std::string& json, const std::string& origin, const std::string& base_dir);

// The spec's sampler settings over the bundle's defaults, validated (errors name the field).
StatusOr<SamplerConfig> sampler_config(const proto::JobSpec& spec, const proto::BundleManifest& manifest);

// The searcher the spec asks for, for a sampler of `steps` steps. Validates the schedule.
StatusOr<std::unique_ptr<Searcher>> make_searcher(const proto::SearchSpec& search, int steps, SearchKey key);

// The EvoSearch schedule of the spec (its default when unset), for budgets.
StatusOr<EvoSearchConfig> evosearch_config(const proto::SearchSpec& search, int steps);

}  // namespace evosearch
