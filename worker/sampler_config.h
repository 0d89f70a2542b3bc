// Which sampler a job runs and how (torch-free, so job specs and searchers can name samplers
// without LibTorch): the kind, step count, DDIM eta, SDE-DPM-Solver++ order, flow time shift.
#pragma once

#include <string>

#include "common/status.h"
#include "evosearch/bundle.pb.h"

namespace evosearch {

struct SamplerConfig {
  proto::SamplerKind kind = proto::DDIM;
  int steps = 50;
  double eta = 1.0;    // DDIM: 0 deterministic, 1 ancestral (what EvoSearch uses)
  int order = 2;       // DPMPP_SDE: 1 or 2
  double shift = 1.0;  // FLOW time shift (Wan uses 5)
};

// The most sampler steps (and diffusion train_timesteps) accepted: far beyond any model (1000 is
// usual), and bounded because schedules are allocated per step before the job's memory estimate.
constexpr int kMaxSteps = 100000;

Status validate_sampler(const SamplerConfig& config, proto::ModelKind model);

// The sampler named on a command line or in a job spec: "ddim", "euler" or "dpmpp-sde".
StatusOr<proto::SamplerKind> parse_sampler_kind(const std::string& name);

// Sampler settings from the bundle's defaults.
SamplerConfig default_sampler(const proto::BundleManifest& manifest);

}  // namespace evosearch
