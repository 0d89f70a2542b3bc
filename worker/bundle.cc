#include "worker/bundle.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "worker/condition_layout.h"
#include "worker/keyed_noise.h"
#include "worker/manifest.h"
#include "worker/model_dtype.h"
#include "worker/reward_service.h"
#include "worker/schedule.h"

namespace evosearch {
namespace {

constexpr char kIdentity[] = "identity";

std::string shape_string(at::IntArrayRef shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    out << (i ? "," : "") << (shape[i] >= 0 ? std::to_string(shape[i]) : i == 0 ? "B" : "?");
  }
  out << "]";
  return out.str();
}

std::vector<int64_t> with_batch(int64_t batch, const std::vector<int64_t>& shape) {
  std::vector<int64_t> out{batch};
  out.insert(out.end(), shape.begin(), shape.end());
  return out;
}

// The prompt -> condition table of a condition_file: tensors [D] (version 1) or dicts of the
// declared parts (version 2), packed into rows [width].
StatusOr<std::map<std::string, at::Tensor>> load_condition_table(const std::string& path, const ConditionLayout& layout) {
  const int64_t dim = layout.width();
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("file does not exist");
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  c10::IValue value;
  try {
    value = torch::jit::pickle_load(bytes);
  } catch (const std::exception& e) {
    return DataLoss("not a torch.save'd dict of prompt -> tensor (" + short_torch_error(e, 1) + ")");
  }
  if (!value.isGenericDict()) {
    return InvalidArgument(layout.structured() ? "expected a dict {prompt: {part: tensor}} with the parts " + layout.describe()
                                               : "expected a dict {prompt: tensor[" + std::to_string(dim) + "]}");
  }
  std::map<std::string, at::Tensor> table;
  for (const auto& entry : value.toGenericDict()) {
    if (layout.structured() && entry.key().isString()) {
      ASSIGN_OR_RETURN(at::Tensor packed, layout.pack(entry.value(), -1, at::kFloat,
                                                      "the condition of '" + entry.key().toStringRef() + "'"));
      table.emplace(entry.key().toStringRef(), packed);
      continue;
    }
    if (!entry.key().isString() || !entry.value().isTensor()) {
      return InvalidArgument("expected string keys and tensor values");
    }
    at::Tensor t = entry.value().toTensor();
    if (t.dim() != 1 || t.size(0) != dim || t.scalar_type() != at::kFloat) {
      return InvalidArgument("condition for '" + entry.key().toStringRef() + "' has shape " + shape_string(t.sizes()) +
                             ", expected float32 [" + std::to_string(dim) + "]");
    }
    table.emplace(entry.key().toStringRef(), t);
  }
  return table;
}

at::ScalarType scalar_type(const std::string& dtype) {
  if (dtype == "bf16") return at::kBFloat16;
  if (dtype == "fp16") return at::kHalf;
  return at::kFloat;
}

}  // namespace

StatusOr<std::unique_ptr<Bundle>> Bundle::open(const std::string& dir, const at::Device& device,
                                               const BundleOptions& options) {
  std::unique_ptr<Bundle> bundle(new Bundle());
  bundle->dir_ = dir;
  bundle->device_ = device;
  ASSIGN_OR_RETURN(bundle->manifest_, load_manifest(dir));
  bundle->conditions_layout_ = ConditionLayout(bundle->manifest_);
  RETURN_IF_ERROR(check_latent_fits(bundle->manifest_, dir));
  const std::string dtype = options.dtype.empty() ? bundle->manifest_.dtype() : options.dtype;
  const std::string field = options.dtype.empty() ? dir + "/manifest.json: dtype" : options.dtype_field;
  RETURN_IF_ERROR(check_model_dtype(dtype, field));
  if (dtype == "fp16" && !device.is_cuda()) {
    // LibTorch's CPU kernels have no half-precision convolutions or matrix products.
    return InvalidArgument(field + ": fp16 runs on CUDA devices only, not on " + device.str() +
                           "; use bf16 (or fp32) there");
  }
  bundle->dtype_name_ = dtype;
  bundle->dtype_ = scalar_type(dtype);
  ASSIGN_OR_RETURN(std::unique_ptr<ModuleLoader> loader, make_module_loader(bundle->manifest_.format()));
  // Anything LibTorch throws while loading and dry-running (an allocation that fails, an op on
  // tensors of the wrong shape outside a module) becomes a Status naming the bundle.
  try {
    RETURN_IF_ERROR(bundle->load_modules(*loader));
    c10::InferenceMode guard;
    RETURN_IF_ERROR(bundle->dry_run());
  } catch (const std::exception& e) {
    return Internal(dir + ": loading and dry-running the bundle failed: " + short_torch_error(e));
  }
  return bundle;
}

Status Bundle::load_modules(const ModuleLoader& loader) {
  auto load = [&](const std::string& file, const char* role,
                  std::unique_ptr<LoadedModule>& slot) -> Status {
    auto loaded = loader.load(dir_ + "/" + file, device_, dtype_);
    if (!loaded.ok()) {
      return loaded.status().with_context(dir_ + "/" + file + " (the " + role + " named in manifest.json)");
    }
    slot = std::move(loaded).value();
    return Status::Ok();
  };
  if (!manifest_.encoder().empty()) {
    RETURN_IF_ERROR(load(manifest_.encoder(), "encoder", encoder_));
  } else {
    const std::string path = dir_ + "/" + manifest_.condition_file();
    auto table = load_condition_table(path, conditions_layout_);
    if (!table.ok()) return table.status().with_context(path + " (the condition_file named in manifest.json)");
    conditions_ = std::move(table).value();
    for (auto& [prompt, cond] : conditions_) cond = cond.to(device_);
  }
  RETURN_IF_ERROR(load(manifest_.denoiser(), "denoiser", denoiser_));
  if (manifest_.decoder() != kIdentity) RETURN_IF_ERROR(load(manifest_.decoder(), "decoder", decoder_));
  for (const proto::RewardSpec& spec : manifest_.rewards()) {
    rewards_.emplace_back();
    if (!spec.service().empty()) {
      ASSIGN_OR_RETURN(rewards_.back(), open_reward_service(spec, dir_, device_));
    } else {
      RETURN_IF_ERROR(load(spec.file(), "reward", rewards_.back()));
    }
  }
  return Status::Ok();
}

StatusOr<at::Tensor> Bundle::checked(const std::string& file, const std::string& what, StatusOr<c10::IValue> result,
                                     const std::vector<int64_t>& expected, bool unit_range, FiniteGuard* guard) const {
  const std::string source = file.rfind("unix:", 0) == 0 ? "reward service " + file : dir_ + "/" + file;
  const std::string where = source + ": ";
  if (!result.ok()) {
    // A module that fails on the NaN an earlier call made (still unread in the guard): the
    // earlier call is the cause to name.
    if (guard) RETURN_IF_ERROR(guard->check());
    // A service's own messages name it already.
    return file.rfind("unix:", 0) == 0 ? result.status() : result.status().with_context(source);
  }
  if (!result->isTensor()) return ModelError(where + what + " is not a tensor; expected float32 " + shape_string(expected));
  at::Tensor t = result->toTensor();
  bool shape_ok = t.dim() == static_cast<int64_t>(expected.size());
  for (size_t i = 0; shape_ok && i < expected.size(); ++i) shape_ok = expected[i] < 0 || t.size(i) == expected[i];
  if (!shape_ok) {
    return ModelError(where + what + " has shape " + shape_string(t.sizes()) + ", expected " + shape_string(expected));
  }
  if (t.scalar_type() != at::kFloat && t.scalar_type() != dtype_) {
    return ModelError(where + what + " has dtype " + std::string(c10::toString(t.scalar_type())) +
                           ", expected float32" + (dtype_ == at::kFloat ? "" : " or " + dtype_name_ + " (the bundle's dtype)"));
  }
  t = t.to(at::kFloat);
  if (guard) {
    guard->record(t, where, what, unit_range);
  } else {
    RETURN_IF_ERROR(check_finite_now(t, where, what, unit_range));
  }
  return t;
}

std::vector<int64_t> Bundle::latent_shape() const {
  return {manifest_.latent_shape().begin(), manifest_.latent_shape().end()};
}

int Bundle::guidance_reward() const { return guidance_reward_index(manifest_); }

StatusOr<int> Bundle::reward_index(const std::string& name) const {
  std::string known;
  for (int i = 0; i < manifest_.rewards_size(); ++i) {
    if (manifest_.rewards(i).name() == name) return i;
    known += (i ? ", " : "") + manifest_.rewards(i).name();
  }
  return NotFound("reward '" + name + "' is not in bundle " + dir_ + " (it has: " + known + ")");
}

StatusOr<at::Tensor> Bundle::encode(const std::vector<std::string>& prompts) {
  const int64_t batch = static_cast<int64_t>(prompts.size());
  if (!encoder_) {
    std::vector<at::Tensor> rows;
    for (const std::string& p : prompts) {
      auto it = conditions_.find(p);
      if (it == conditions_.end()) {
        return ModelError(dir_ + "/" + manifest_.condition_file() + ": no precomputed condition for prompt '" + p + "'");
      }
      rows.push_back(it->second);
    }
    return at::stack(rows).to(device_);
  }
  c10::List<std::string> list;
  for (const std::string& p : prompts) list.push_back(p);
  // An encoder sees only strings, so it may answer on the CPU: conditions go where the model is.
  StatusOr<c10::IValue> output = encoder_->run("forward", {list});
  if (output.ok() && conditions_layout_.structured()) {
    ASSIGN_OR_RETURN(const at::Tensor packed, conditions_layout_.pack(*output, batch, dtype_,
                                                                     dir_ + "/" + manifest_.encoder() + ": encoder output"));
    output = c10::IValue(packed);
  }
  ASSIGN_OR_RETURN(const at::Tensor cond, checked(manifest_.encoder(), "encoder output", std::move(output),
                                                  {batch, manifest_.condition_dim()}));
  return cond.to(device_);
}

StatusOr<at::Tensor> Bundle::denoise(const at::Tensor& x, const at::Tensor& t, const at::Tensor& cond,
                                     FiniteGuard* guard, int64_t step) {
  const std::string what = step < 0 ? "denoiser output" : "denoiser output at sampler step " + std::to_string(step);
  std::vector<c10::IValue> inputs{x, t};
  for (c10::IValue& part : conditions_layout_.unpack(cond)) inputs.push_back(std::move(part));
  return checked(manifest_.denoiser(), what, denoiser_->run("forward", std::move(inputs)), x.sizes().vec(), false, guard);
}

StatusOr<at::Tensor> Bundle::decode(const at::Tensor& latents, FiniteGuard* guard) {
  const std::vector<int64_t> expected =
      pixel_shape_.empty() ? with_batch(latents.size(0), std::vector<int64_t>(latents.dim() - 1, -1))
                           : with_batch(latents.size(0), pixel_shape_);
  if (!decoder_) {
    // "identity": the latents are pixels already; clamp them into the pixel range.
    return checked(manifest_.decoder(), "identity-decoded latent", c10::IValue(latents.clamp(0, 1)),
                   latents.sizes().vec(), true, guard);
  }
  return checked(manifest_.decoder(), "decoder output", decoder_->run("forward", {latents}), expected, true, guard);
}

StatusOr<at::Tensor> Bundle::score(int index, const at::Tensor& pixels, const at::Tensor& cond,
                                   const std::vector<std::string>& texts, FiniteGuard* guard) {
  const proto::RewardSpec& spec = manifest_.rewards(index);
  std::vector<c10::IValue> inputs{pixels};
  if (spec.input() != proto::PROMPT_TEXT) {
    for (c10::IValue& part : conditions_layout_.unpack(cond)) inputs.push_back(std::move(part));
  } else {
    if (static_cast<int64_t>(texts.size()) != pixels.size(0)) {
      return Internal("reward '" + spec.name() + "' was given " + std::to_string(texts.size()) + " prompt texts for " +
                      std::to_string(pixels.size(0)) + " samples");
    }
    c10::List<std::string> list;
    for (const std::string& text : texts) list.push_back(text);
    inputs.emplace_back(list);
  }
  const std::string& source = spec.service().empty() ? spec.file() : spec.service();
  return checked(source, "reward output", rewards_[index]->run("forward", std::move(inputs)), {pixels.size(0)}, false,
                 guard);
}

StatusOr<at::Tensor> Bundle::features(int index, const at::Tensor& pixels) {
  const proto::RewardSpec& spec = manifest_.rewards(index);
  const std::string file = spec.service().empty() ? spec.file() : spec.service();
  if (!rewards_[index]->has_method("features")) {
    return NotFound((spec.service().empty() ? dir_ + "/" + file : file) + ": has no features() method");
  }
  return checked(file, "features output", rewards_[index]->run("features", {pixels}), {pixels.size(0), -1});
}

Status Bundle::dry_run() {
  std::vector<std::string> prompts{"a test prompt", manifest_.null_prompt()};
  at::Tensor cond;
  if (encoder_) {
    ASSIGN_OR_RETURN(cond, encode(prompts));
  } else {
    if (conditions_.empty()) return InvalidArgument(dir_ + "/" + manifest_.condition_file() + ": holds no prompts");
    if (!conditions_.count(manifest_.null_prompt())) {
      return InvalidArgument(dir_ + "/" + manifest_.condition_file() + ": has no condition for the null_prompt '" +
                             manifest_.null_prompt() + "' (needed for classifier-free guidance)");
    }
    prompts = {conditions_.begin()->first, manifest_.null_prompt()};
    ASSIGN_OR_RETURN(cond, encode(prompts));
  }
  const std::vector<int64_t> latent = latent_shape();
  const at::Tensor x = keyed_normal({NoiseKey{0, 0, 0, 0, 0, 1}, NoiseKey{0, 0, 0, 1, 0, 1}}, latent, device_);
  const proto::SamplerDefaults& d = manifest_.defaults();
  auto schedule = manifest_.model_kind() == proto::FLOW
                      ? make_flow_schedule(manifest_.flow(), d.steps(), manifest_.flow().shift())
                      : make_diffusion_schedule(manifest_.diffusion(), d.steps());
  if (!schedule.ok()) return schedule.status().with_context(dir_ + "/manifest.json");
  const at::Tensor t = at::tensor({schedule->model_t[0], schedule->model_t[d.steps() / 2]},
                                  at::TensorOptions().dtype(at::kFloat)).to(device_);
  const Status denoised = denoise(x, t, cond).status();
  if (!denoised.ok()) {
    return denoised.with_context("dry run of the denoiser on a batch of 2 latents of latent_shape " +
                                 shape_string(latent) + " with conditions " + conditions_layout_.describe() +
                                 " (both from manifest.json" +
                                 (conditions_layout_.structured() ? "; the denoiser takes them after x and t, in that order)"
                                                                  : ")"));
  }
  ASSIGN_OR_RETURN(at::Tensor pixels, decode(x));  // checks the rank: pixels are shaped like latents
  pixel_shape_.assign(pixels.sizes().begin() + 1, pixels.sizes().end());
  for (int i = 0; i < reward_count(); ++i) {
    const Status scored = score(i, pixels, cond, prompts).status();
    if (scored.code() == StatusCode::kUnavailable) return scored;  // a reward service not up: it says so
    if (!scored.ok()) {
      const bool text = manifest_.rewards(i).input() == proto::PROMPT_TEXT;
      return scored.with_context(
          "dry run of reward '" + manifest_.rewards(i).name() + "' on decoded pixels " + shape_string(pixel_shape_) +
          " from latents of latent_shape " + shape_string(latent) + " and " +
          (text ? "the prompt texts (its input is PROMPT_TEXT: forward(pixels, prompts: List[str]))"
                : "the conditions (its input is CONDITION: forward(pixels, cond); a reward that reads the prompt "
                  "declares \"input\": \"PROMPT_TEXT\")") +
          " (manifest.json; is latent_shape what the decoder and rewards were made for?)");
    }
    const auto f = features(i, pixels);
    if (!f.ok() && f.status().code() != StatusCode::kNotFound) return f.status();
  }
  return Status::Ok();
}

}  // namespace evosearch
