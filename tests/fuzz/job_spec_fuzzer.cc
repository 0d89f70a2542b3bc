// Job specs, JSON or (first byte odd, in builds with yaml-cpp) YAML, through every step the
// program takes with a spec, in its order (coordinator/job_setup.cc, job_runner.cc), around the
// model: parse_job_spec, the sampler settings over a bundle's defaults, the sampler's schedule,
// the searcher, the memory check, and the first generation.
//
// Beyond "no crash, no sanitizer report", it checks what later code relies on: a refused spec
// says why; an accepted one has absolute paths, a positive batch size, finite numbers, and a
// first generation that is not empty (a generation without tasks never completes).
#include <cstddef>
#include <cstdint>
#include <string>

#include "coordinator/job_spec.h"
#include "coordinator/memory_estimate.h"
#include "coordinator/yaml_to_json.h"
#include "fuzz_support.h"
#include "worker/manifest.h"
#include "worker/schedule.h"

namespace evosearch {
namespace {

// A small flow bundle's manifest: the defaults a spec's sampler section is laid over.
const proto::BundleManifest& bundle_manifest() {
  static const proto::BundleManifest manifest = [] {
    proto::BundleManifest m;
    m.set_model_kind(proto::FLOW);
    m.set_prediction(proto::VELOCITY);
    m.mutable_flow()->set_time_scale(1000);
    m.mutable_flow()->set_shift(1);
    for (int64_t d : {4, 8, 8}) m.add_latent_shape(d);
    m.mutable_defaults()->set_sampler(proto::DPMPP_SDE);
    m.mutable_defaults()->set_steps(12);
    m.mutable_defaults()->set_eta(1);
    m.mutable_defaults()->set_order(2);
    m.mutable_defaults()->set_guidance_scale(2);
    return m;
  }();
  return manifest;
}

void check_accepted(const proto::JobSpec& spec) {
  fuzz::expect(spec.bundle().front() == '/' && spec.prompts().front() == '/' && spec.output().front() == '/',
               "an accepted spec's paths are resolved against the spec's folder");
  fuzz::expect(spec.batch_size() > 0, "an accepted spec has a positive batch_size");
  fuzz::expect(spec.prompts_in_flight() >= 0, "an accepted spec has prompts_in_flight >= 0");
  const proto::SamplerSpec& s = spec.sampler();
  fuzz::expect(!s.has_guidance_scale() || fuzz::finite(s.guidance_scale()), "sampler.guidance_scale accepted but not finite");
  fuzz::expect(!s.has_eta() || fuzz::finite(s.eta()), "sampler.eta accepted but not finite");
  fuzz::expect(!s.has_shift() || fuzz::finite(s.shift()), "sampler.shift accepted but not finite");
}

}  // namespace
}  // namespace evosearch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace evosearch;
  if (size == 0) return 0;
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const bool yaml = (data[0] & 1) != 0;
  if (yaml) {
    if (!yaml_supported()) return 0;
    auto json = yaml_to_json(text, "/fuzz/job.yaml");
    if (!json.ok()) {
      fuzz::expect(!json.status().message().empty(), "a refused YAML spec says why");
      return 0;
    }
    text = *json;
  }
  auto spec = parse_job_spec(text, "/fuzz/job.json", "/fuzz");
  if (!spec.ok()) {
    fuzz::expect(spec.status().message().rfind("/fuzz/job.json", 0) == 0, "a refused spec is named: " + spec.status().message());
    return 0;
  }
  check_accepted(*spec);

  // What the job does next: sampler settings, schedule, searcher (job_setup.cc, job_loop.cc).
  auto sampler = sampler_config(*spec, bundle_manifest());
  if (!sampler.ok()) return 0;
  auto schedule = make_schedule(bundle_manifest(), *sampler);
  if (!schedule.ok()) return 0;
  for (size_t i = 0; i < schedule->alpha.size(); ++i) {
    fuzz::expect(fuzz::finite(schedule->alpha[i]) && fuzz::finite(schedule->sigma[i]) && fuzz::finite(schedule->model_t[i]),
                 "the schedule of an accepted spec is finite at step " + std::to_string(i));
  }
  auto searcher = make_searcher(spec->search(), sampler->steps, SearchKey{spec->seed(), 0});
  if (!searcher.ok()) return 0;
  // The program refuses a job over its memory limit before the first generation; here the limit
  // is the spec's, or 256 MiB (the fuzzer runs under a 512 MB allocation limit).
  proto::JobSpec limited = *spec;
  if (limited.memory_limit_mb() == 0) limited.set_memory_limit_mb(256);
  const size_t in_flight = spec->prompts_in_flight() > 0 ? static_cast<size_t>(spec->prompts_in_flight()) : 8;
  if (!check_job_memory(limited, bundle_manifest(), sampler->steps, {}, in_flight).ok()) return 0;
  fuzz::expect((*searcher)->generation_count() > 0, "an accepted search has at least one generation");
  fuzz::expect(!(*searcher)->next_generation().empty(), "the first generation of an accepted search has tasks");
  return 0;
}
