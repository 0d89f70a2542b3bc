// Bundle manifests (manifest.json) through parse_manifest and what loading a bundle computes
// from one before touching a module: the default sampler and its noise schedule.
//
// Checks: a refused manifest is named; an accepted one has one guidance reward, a latent shape
// of 3 or 4 positive sizes whose sample stays under 2^31 elements (8 GiB of float32: no model
// comes near, and beyond it one sample exhausts a machine), a finite guidance scale, and a
// finite schedule of steps + 1 entries.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "worker/manifest.h"
#include "worker/schedule.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace evosearch;
  const std::string origin = "/fuzz/bundle/manifest.json";
  auto manifest = parse_manifest(std::string(reinterpret_cast<const char*>(data), size), origin);
  if (!manifest.ok()) {
    fuzz::expect(manifest.status().message().rfind(origin, 0) == 0, "a refused manifest is named: " + manifest.status().message());
    return 0;
  }
  const proto::BundleManifest& m = *manifest;
  fuzz::expect(m.rewards(guidance_reward_index(m)).guidance(), "an accepted manifest has a guidance reward");
  fuzz::expect(m.latent_shape_size() == 3 || m.latent_shape_size() == 4, "latent_shape has 3 or 4 sizes");
  double elements = 1;
  for (int64_t d : m.latent_shape()) {
    fuzz::expect(d > 0, "latent_shape sizes are positive");
    elements *= static_cast<double>(d);
  }
  fuzz::expect(elements < 2147483648.0, "latent_shape accepted with " + std::to_string(elements) + " elements per sample");
  fuzz::expect(fuzz::finite(m.defaults().guidance_scale()), "defaults.guidance_scale accepted but not finite");

  auto schedule = make_schedule(m, default_sampler(m));
  if (!schedule.ok()) return 0;
  fuzz::expect(schedule->steps() == m.defaults().steps(), "the schedule has defaults.steps steps");
  for (size_t i = 0; i < schedule->alpha.size(); ++i) {
    fuzz::expect(fuzz::finite(schedule->alpha[i]) && fuzz::finite(schedule->sigma[i]) && fuzz::finite(schedule->model_t[i]),
                 "the default schedule of an accepted manifest is finite at step " + std::to_string(i));
  }
  return 0;
}
