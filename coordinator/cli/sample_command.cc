// `evosearch sample`: no search, just the sampler; a grid PNG and every reward's scores.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "coordinator/cli/command_setup.h"
#include "media/image_io.h"
#include "worker/generate.h"
#include "worker/pixels.h"

namespace evosearch {
namespace {

// The bundle's defaults with the command line's overrides.
StatusOr<GenerateOptions> generate_options(const proto::BundleManifest& m, const SampleOptions& o) {
  GenerateOptions g;
  g.sampler = default_sampler(m);
  if (!o.sampler.empty()) {
    auto kind = parse_sampler_kind(o.sampler);
    if (!kind.ok()) return kind.status().with_context("--sampler");
    g.sampler.kind = *kind;
  }
  if (o.steps > 0) g.sampler.steps = o.steps;
  if (o.eta >= 0) g.sampler.eta = o.eta;
  if (o.order > 0) g.sampler.order = o.order;
  if (o.shift > 0) g.sampler.shift = o.shift;
  g.guidance_scale = o.guidance >= 0 ? o.guidance : m.defaults().guidance_scale();
  g.batch_size = o.batch;
  g.seed = o.seed;
  RETURN_IF_ERROR(validate_sampler(g.sampler, m.model_kind()));
  return g;
}

void print_scores(const Bundle& bundle, const Samples& samples) {
  const proto::BundleManifest& m = bundle.manifest();
  std::printf("%-8s", "sample");
  for (const auto& r : m.rewards()) std::printf("  %14s", (r.name() + (r.guidance() ? "*" : "")).c_str());
  std::printf("\n");
  const size_t n = samples.scores.empty() ? 0 : samples.scores[0].size();
  for (size_t i = 0; i < n; ++i) {
    std::printf("%-8zu", i);
    for (const auto& column : samples.scores) std::printf("  %14.4f", column[i]);
    std::printf("\n");
  }
  for (const char* stat : {"mean", "max"}) {
    std::printf("%-8s", stat);
    for (const auto& column : samples.scores) {
      const double v = std::string(stat) == "mean"
                           ? std::accumulate(column.begin(), column.end(), 0.0) / std::max<size_t>(1, column.size())
                           : *std::max_element(column.begin(), column.end());
      std::printf("  %14.4f", v);
    }
    std::printf("\n");
  }
  std::printf("(* = guidance reward)\n");
}

}  // namespace

int run_sample(const CommonOptions& common, const SampleOptions& options) {
  auto bundle_or = open_bundle_for_command(common, options.bundle);
  if (!bundle_or.ok()) return fail(bundle_or.status());
  Bundle& bundle = **bundle_or;
  auto generate_or = generate_options(bundle.manifest(), options);
  if (!generate_or.ok()) return fail(generate_or.status());
  const GenerateOptions& g = *generate_or;

  spdlog::info("sampling {} x \"{}\" with {} ({} steps, guidance {})", options.count, options.prompt,
               proto::SamplerKind_Name(g.sampler.kind), g.sampler.steps, g.guidance_scale);
  const auto start = std::chrono::steady_clock::now();
  auto samples = generate(bundle, options.prompt, options.count, g, [&](int64_t done, int64_t total) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    spdlog::info("sampled {}/{} ({:.1f} s, ETA {:.1f} s)", done, total, elapsed, elapsed / done * (total - done));
  });
  if (!samples.ok()) return fail(samples.status());

  const std::vector<Image> images = to_images(samples->pixels);
  const int columns = options.columns > 0 ? options.columns
                                          : static_cast<int>(std::ceil(std::sqrt(static_cast<double>(images.size()))));
  const int scale = options.scale > 0 ? options.scale : std::max(1, 112 / std::max(1, images[0].height));
  const Status written = write_png(options.out, make_grid(images, columns, 2, scale));
  if (!written.ok()) return fail(written);
  print_scores(bundle, *samples);
  spdlog::info("wrote {} ({} samples, {} NFE)", options.out, images.size(), samples->nfe);
  return 0;
}

}  // namespace evosearch
