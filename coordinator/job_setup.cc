#include "coordinator/job_setup.h"

#include "cluster/signals.h"
#include "common/logging.h"
#include "coordinator/job_spec.h"
#include "coordinator/local_executor.h"
#include "coordinator/memory_estimate.h"

namespace evosearch {

StatusOr<std::unique_ptr<TorchBackend>> make_torch_backend(const proto::JobSpec& spec, Bundle& bundle,
                                                           std::function<bool()> should_stop, int workers) {
  ASSIGN_OR_RETURN(const SamplerConfig sampler, sampler_config(spec, bundle.manifest()));
  ASSIGN_OR_RETURN(Schedule schedule, make_schedule(bundle.manifest(), sampler));
  ASSIGN_OR_RETURN(const MemoryEstimate memory,
                   estimate_job_memory(spec, bundle.manifest(), sampler.steps, bundle.pixel_shape(),
                                       prompts_in_flight(spec, workers), workers));
  BackendOptions options;
  options.sampler = sampler;
  options.guidance_scale =
      spec.sampler().has_guidance_scale() ? spec.sampler().guidance_scale() : bundle.manifest().defaults().guidance_scale();
  options.batch_size = spec.batch_size();
  options.decode_batch = memory.decode_batch;
  if (memory.decode_batch < spec.batch_size()) {
    spdlog::info("decoding and scoring {} of a batch's {} samples at a time: the memory limit leaves room for no more "
                 "decoded pixels",
                 memory.decode_batch, spec.batch_size());
  }
  options.seed = spec.seed();
  options.keep_final_frames = spec.generation_grids();  // grids show the pixels scoring decoded
  options.should_stop = std::move(should_stop);
  spdlog::info("sampler {} {} steps, guidance {}, device {}", proto::SamplerKind_Name(sampler.kind), sampler.steps,
               options.guidance_scale, bundle.device().str());
  return std::make_unique<TorchBackend>(bundle, options, std::move(schedule));
}

StatusOr<proto::JobResults> run_embedded_job(const proto::JobSpec& spec, Bundle& bundle, const RunOptions& options) {
  ASSIGN_OR_RETURN(const SamplerConfig sampler, sampler_config(spec, bundle.manifest()));
  // In one process a stop signal abandons the batch at once (its generation is redone on resume).
  ASSIGN_OR_RETURN(std::unique_ptr<TorchBackend> backend,
                   make_torch_backend(spec, bundle, [] { return stop_requested() != 0; }));
  LocalExecutor executor(*backend);
  RunOptions with_pixels = options;
  with_pixels.pixel_shape = bundle.pixel_shape();
  return run_job(spec, bundle.manifest(), sampler.steps, executor, with_pixels);
}

}  // namespace evosearch
