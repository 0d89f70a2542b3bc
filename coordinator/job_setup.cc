#include "coordinator/job_setup.h"

#include "common/logging.h"
#include "worker/samplers.h"
#include "worker/generate.h"

namespace evosearch {

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

StatusOr<std::unique_ptr<TorchBackend>> make_torch_backend(const proto::JobSpec& spec, Bundle& bundle) {
  ASSIGN_OR_RETURN(const SamplerConfig sampler, sampler_config(spec, bundle.manifest()));
  ASSIGN_OR_RETURN(Schedule schedule, make_schedule(bundle.manifest(), sampler));
  ExecutorOptions options;
  options.sampler = sampler;
  options.guidance_scale =
      spec.sampler().has_guidance_scale() ? spec.sampler().guidance_scale() : bundle.manifest().defaults().guidance_scale();
  options.batch_size = spec.batch_size();
  options.seed = spec.seed();
  spdlog::info("sampler {} {} steps, guidance {}, device {}", proto::SamplerKind_Name(sampler.kind), sampler.steps,
               options.guidance_scale, bundle.device().str());
  return std::make_unique<TorchBackend>(bundle, options, std::move(schedule));
}

StatusOr<proto::JobResults> run_job(const proto::JobSpec& spec, Bundle& bundle, const RunOptions& options) {
  ASSIGN_OR_RETURN(const SamplerConfig sampler, sampler_config(spec, bundle.manifest()));
  ASSIGN_OR_RETURN(std::unique_ptr<TorchBackend> backend, make_torch_backend(spec, bundle));
  InProcessExecutor executor(*backend);
  return run_search_job(spec, bundle.manifest(), sampler.steps, executor, options);
}

}  // namespace evosearch
