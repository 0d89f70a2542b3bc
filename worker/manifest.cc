#include "worker/manifest.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include <google/protobuf/util/json_util.h>

#include "common/system_memory.h"
#include "worker/model_dtype.h"
#include "worker/prediction.h"
#include "worker/sampler_config.h"
#include "worker/schedule.h"

namespace evosearch {
namespace {

void fill_defaults(proto::BundleManifest& m) {
  if (m.format() == proto::MODULE_FORMAT_UNSPECIFIED) m.set_format(proto::TORCHSCRIPT);
  if (m.model_kind() == proto::DIFFUSION) *m.mutable_diffusion() = with_defaults(m.diffusion());
  if (m.model_kind() == proto::FLOW) *m.mutable_flow() = with_defaults(m.flow());
  proto::SamplerDefaults* d = m.mutable_defaults();
  if (d->sampler() == proto::SAMPLER_KIND_UNSPECIFIED) {
    d->set_sampler(m.model_kind() == proto::FLOW ? proto::DPMPP_SDE : proto::DDIM);
  }
  if (d->steps() == 0) d->set_steps(50);
  if (!d->has_guidance_scale()) d->set_guidance_scale(1.0);
  if (!d->has_eta()) d->set_eta(1.0);
  if (d->order() == 0) d->set_order(2);
  if (m.dtype().empty()) m.set_dtype(kDefaultModelDtype);
  if (m.conditions_size() > 0 && m.condition_dim() == 0) m.set_condition_dim(condition_parts_width(m));
  for (proto::RewardSpec& r : *m.mutable_rewards()) {
    if (r.service().empty()) continue;
    // A service cannot be handed the generator's conditions: it reads the prompt text.
    if (r.input() == proto::REWARD_INPUT_UNSPECIFIED) r.set_input(proto::PROMPT_TEXT);
    if (r.timeout_seconds() == 0) r.set_timeout_seconds(kDefaultRewardServiceTimeout);
  }
}

Status check_reward_service(const proto::RewardSpec& r, const std::string& where) {
  if (r.service().rfind("unix:", 0) != 0 || r.service().size() == 5) {
    return InvalidArgument(where + ".service: '" + r.service() + "': expected \"unix:PATH\" (a Unix socket)");
  }
  if (r.input() != proto::PROMPT_TEXT) {
    return InvalidArgument(where + ".input: a reward service reads the prompt text (PROMPT_TEXT), not the conditions");
  }
  if (!(r.timeout_seconds() > 0) || !std::isfinite(r.timeout_seconds())) {
    return InvalidArgument(where + ".timeout_seconds: expected a positive number of seconds");
  }
  return Status::Ok();
}

// The checks of version 2's conditions: names given and distinct, shapes positive, and
// condition_dim (when written) their total size.
Status check_condition_parts(const proto::BundleManifest& m) {
  std::set<std::string> names;
  for (int i = 0; i < m.conditions_size(); ++i) {
    const proto::ConditionPart& part = m.conditions(i);
    const std::string where = "conditions[" + std::to_string(i) + "]";
    if (part.name().empty()) return InvalidArgument(where + ".name: missing (e.g. \"tokens\", \"mask\", \"pooled\")");
    if (!names.insert(part.name()).second) return InvalidArgument(where + ".name: '" + part.name() + "' is used twice");
    if (part.shape_size() == 0) return InvalidArgument(where + ".shape: missing; expected e.g. [77, 1024] for tokens");
    for (int64_t d : part.shape()) {
      if (d <= 0 || d > (int64_t{1} << 24)) return InvalidArgument(where + ".shape: every size must be in 1..2^24");
    }
  }
  const int64_t total = condition_parts_width(m);
  if (total > (int64_t{1} << 31)) {
    return InvalidArgument("conditions: more than 2^31 numbers per prompt; no bundle this build can run is that large");
  }
  if (m.conditions_size() > 0 && m.condition_dim() != total) {
    return InvalidArgument("condition_dim: " + std::to_string(m.condition_dim()) + ", but the conditions' sizes add up to " +
                           std::to_string(total) + " (with conditions, leave condition_dim out)");
  }
  return Status::Ok();
}

Status check(const proto::BundleManifest& m) {
  if (m.model_kind() == proto::MODEL_KIND_UNSPECIFIED) {
    return InvalidArgument("model_kind: missing; expected DIFFUSION or FLOW");
  }
  if (m.prediction() == proto::PREDICTION_UNSPECIFIED) {
    return InvalidArgument("prediction: missing; expected EPSILON, V_PREDICTION, SAMPLE or VELOCITY");
  }
  RETURN_IF_ERROR(check_prediction(m.model_kind(), m.prediction()));
  if (m.latent_shape_size() != 3 && m.latent_shape_size() != 4) {
    return InvalidArgument("latent_shape: expected [C,H,W] (image) or [C,F,H,W] (video), got " +
                           std::to_string(m.latent_shape_size()) + " numbers");
  }
  int64_t elements = 1;
  for (int64_t d : m.latent_shape()) {
    if (d <= 0) return InvalidArgument("latent_shape: every size must be positive");
    if (d > (int64_t{1} << 31) / elements) {
      return InvalidArgument("latent_shape: more than 2^31 numbers per sample; no bundle this build can run is that large");
    }
    elements *= d;
  }
  RETURN_IF_ERROR(check_condition_parts(m));
  if (m.condition_dim() <= 0) {
    return InvalidArgument("condition_dim: expected a positive width (or `conditions`: named tensors such as tokens)");
  }
  if (m.encoder().empty() == m.condition_file().empty()) {
    return InvalidArgument("encoder/condition_file: give exactly one of them");
  }
  if (m.denoiser().empty()) return InvalidArgument("denoiser: missing; expected a module file name");
  if (m.decoder().empty()) return InvalidArgument("decoder: missing; expected a module file name or \"identity\"");
  if (m.rewards_size() == 0) return InvalidArgument("rewards: expected at least one reward module");
  std::set<std::string> names;
  int guidance = 0;
  for (int i = 0; i < m.rewards_size(); ++i) {
    const proto::RewardSpec& r = m.rewards(i);
    const std::string where = "rewards[" + std::to_string(i) + "]";
    if (r.name().empty()) return InvalidArgument(where + ".name: missing");
    if (r.file().empty() == r.service().empty()) {
      return InvalidArgument(where + ": give exactly one of \"file\" (a module) and \"service\" (\"unix:PATH\")");
    }
    if (!r.service().empty()) RETURN_IF_ERROR(check_reward_service(r, where));
    if (r.service().empty() && r.timeout_seconds() != 0) {
      return InvalidArgument(where + ".timeout_seconds: only a reward \"service\" has one (this reward is a module file)");
    }
    if (!names.insert(r.name()).second) return InvalidArgument(where + ".name: '" + r.name() + "' is used twice");
    guidance += r.guidance() ? 1 : 0;
  }
  if (guidance != 1) {
    return InvalidArgument("rewards: exactly one reward must have \"guidance\": true, found " + std::to_string(guidance));
  }
  RETURN_IF_ERROR(check_model_dtype(m.dtype(), "dtype"));
  const proto::SamplerDefaults& d = m.defaults();
  if (d.steps() < 1 || d.steps() > kMaxSteps) return InvalidArgument("defaults.steps: expected 1.." + std::to_string(kMaxSteps));
  if (!std::isfinite(d.guidance_scale())) return InvalidArgument("defaults.guidance_scale: expected a finite number");
  if (d.eta() < 0 || d.eta() > 1) return InvalidArgument("defaults.eta: expected a value in [0, 1]");
  if (d.order() != 1 && d.order() != 2) return InvalidArgument("defaults.order: expected 1 or 2");
  if (m.model_kind() == proto::FLOW && !(m.flow().shift() > 0 && std::isfinite(m.flow().shift()))) {
    return InvalidArgument("flow.shift: expected a finite number > 0");
  }
  if (m.model_kind() == proto::FLOW && !(m.flow().time_scale() > 0 && std::isfinite(m.flow().time_scale()))) {
    return InvalidArgument("flow.time_scale: expected a finite number > 0");
  }
  if (m.model_kind() == proto::DIFFUSION && m.diffusion().train_timesteps() > kMaxSteps) {
    return InvalidArgument("diffusion.train_timesteps: expected at most " + std::to_string(kMaxSteps));
  }
  if (m.model_kind() == proto::DIFFUSION && d.steps() > m.diffusion().train_timesteps()) {
    return InvalidArgument("defaults.steps: more steps than diffusion.train_timesteps");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<proto::BundleManifest> parse_manifest(const std::string& json, const std::string& origin) {
  proto::BundleManifest manifest;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto parsed = google::protobuf::util::JsonStringToMessage(json, &manifest, options);
  if (!parsed.ok()) {
    return InvalidArgument(origin + ": " + std::string(parsed.message()) +
                           " (see models/BUNDLE.md for the manifest fields)");
  }
  fill_defaults(manifest);
  const Status status = check(manifest);
  if (!status.ok()) return status.with_context(origin);
  return manifest;
}

StatusOr<proto::BundleManifest> load_manifest(const std::string& bundle_dir) {
  const std::string path = bundle_dir + "/manifest.json";
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot open (is " + bundle_dir + " a model bundle folder?)");
  std::stringstream text;
  text << in.rdbuf();
  return parse_manifest(text.str(), path);
}

int64_t condition_parts_width(const proto::BundleManifest& manifest) {
  // Saturates at 2^40 (the check refuses anything that large) so no size overflows.
  constexpr int64_t kCap = int64_t{1} << 40;
  int64_t total = 0;
  for (const proto::ConditionPart& part : manifest.conditions()) {
    int64_t size = 1;
    for (int64_t d : part.shape()) size = std::min(kCap, size * std::clamp<int64_t>(d, 0, int64_t{1} << 24));
    total = std::min(kCap, total + size);
  }
  return total;
}

int guidance_reward_index(const proto::BundleManifest& manifest) {
  for (int i = 0; i < manifest.rewards_size(); ++i) {
    if (manifest.rewards(i).guidance()) return i;
  }
  return 0;
}

Status check_latent_fits(const proto::BundleManifest& manifest, const std::string& bundle_dir) {
  double latent = 4;  // float32
  for (int64_t d : manifest.latent_shape()) latent *= static_cast<double>(d);
  const double available = 0.9 * static_cast<double>(available_memory_bytes());
  // The dry run denoises and decodes a batch of 2 with CFG: about 16 latents live at once.
  if (available > 0 && 16 * latent > available) {
    return InvalidArgument(bundle_dir + "/manifest.json: latent_shape: one latent is " + human_bytes(latent) +
                           "; opening the bundle needs about " + human_bytes(16 * latent) + " but " +
                           human_bytes(available) + " (90% of the memory available) is there");
  }
  return Status::Ok();
}

}  // namespace evosearch
