// `evosearch check`: load a bundle, dry-run it, describe it.
#include <iostream>

#include "coordinator/cli/command_setup.h"
#include "worker/generate.h"

namespace evosearch {
namespace {

std::string dims(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? "," : "") + std::to_string(shape[i]);
  return out + "]";
}

}  // namespace

int run_check(const CommonOptions& common, const CheckOptions& options) {
  auto bundle = open_bundle_for_command(common, options.bundle);
  if (!bundle.ok()) return fail(bundle.status());
  const proto::BundleManifest& m = (*bundle)->manifest();
  const SamplerConfig s = default_sampler(m);
  std::cout << "bundle     " << options.bundle << ": OK (every module dry-ran on a batch of 2)\n"
            << "name       " << m.name() << "\n"
            << "model      " << proto::ModelKind_Name(m.model_kind()) << ", predicts "
            << proto::Prediction_Name(m.prediction()) << "\n"
            << "latent     " << dims((*bundle)->latent_shape()) << " -> pixels " << dims((*bundle)->pixel_shape()) << "\n"
            << "condition  " << (*bundle)->condition_layout().describe() << " (" << m.condition_dim()
            << " numbers per prompt), from "
            << (m.encoder().empty() ? m.condition_file() : m.encoder()) << "\n"
            << "dtype      " << (*bundle)->dtype() << " (the modules' precision; states and sampler float32)\n"
            << "sampler    " << proto::SamplerKind_Name(s.kind) << ", " << s.steps << " steps, guidance "
            << m.defaults().guidance_scale() << "\n";
  for (int i = 0; i < m.rewards_size(); ++i) {
    std::cout << "reward     " << m.rewards(i).name() << (m.rewards(i).guidance() ? " (guidance)" : "")
              << (m.rewards(i).input() == proto::PROMPT_TEXT ? " (reads the prompt text)" : "")
              << (m.rewards(i).service().empty() ? "" : " (service " + m.rewards(i).service() + ")") << ": "
              << m.rewards(i).description() << "\n";
  }
  return 0;
}

}  // namespace evosearch
