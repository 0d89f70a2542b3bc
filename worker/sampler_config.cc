#include "worker/sampler_config.h"

namespace evosearch {

StatusOr<proto::SamplerKind> parse_sampler_kind(const std::string& name) {
  if (name == "ddim") return proto::DDIM;
  if (name == "euler") return proto::EULER;
  if (name == "dpmpp-sde") return proto::DPMPP_SDE;
  return InvalidArgument("unknown sampler '" + name + "'; expected ddim, euler or dpmpp-sde");
}

Status validate_sampler(const SamplerConfig& c, proto::ModelKind model) {
  if (c.steps < 1 || c.steps > kMaxSteps) {
    return InvalidArgument("steps: expected 1.." + std::to_string(kMaxSteps) + ", got " + std::to_string(c.steps));
  }
  switch (c.kind) {
    case proto::DDIM:
      if (!(c.eta >= 0 && c.eta <= 1)) return InvalidArgument("eta: expected a value in [0, 1]");
      return Status::Ok();
    case proto::EULER:
      if (model != proto::FLOW) return InvalidArgument("sampler: EULER integrates the flow ODE; use DDIM for a DIFFUSION model");
      return Status::Ok();
    case proto::DPMPP_SDE:
      if (c.order != 1 && c.order != 2) return InvalidArgument("order: DPMPP_SDE supports order 1 or 2");
      return Status::Ok();
    default:
      return InvalidArgument("sampler: expected DDIM, EULER or DPMPP_SDE");
  }
}

SamplerConfig default_sampler(const proto::BundleManifest& m) {
  SamplerConfig c;
  c.kind = m.defaults().sampler();
  c.steps = m.defaults().steps();
  c.eta = m.defaults().eta();
  c.order = m.defaults().order();
  c.shift = m.model_kind() == proto::FLOW ? m.flow().shift() : 1.0;
  return c;
}

}  // namespace evosearch
