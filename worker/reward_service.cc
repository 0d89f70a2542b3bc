#include "worker/reward_service.h"

#include <filesystem>

namespace evosearch {
namespace {

class RewardServiceModule final : public LoadedModule {
 public:
  RewardServiceModule(RewardSocketOptions options, const at::Device& device)
      : socket_(std::move(options)), device_(device) {}

  bool has_method(const std::string& name) const override { return name == "forward"; }

  StatusOr<c10::IValue> run(const std::string& method, std::vector<c10::IValue> inputs) override {
    const std::string& reward = socket_.options().reward;
    if (method != "forward") return NotFound("reward service '" + reward + "' has no " + method + "() method");
    if (inputs.size() != 2 || !inputs[0].isTensor() || !inputs[1].isList()) {
      return Internal("reward service '" + reward + "' takes (pixels, prompts: List[str])");
    }
    const at::Tensor pixels = inputs[0].toTensor().to(at::kCPU, at::kFloat).contiguous();
    proto::ScoreRequest request;
    request.set_reward(reward);
    for (const c10::IValue& text : inputs[1].toListRef()) request.add_prompts(text.toStringRef());
    for (int64_t d : pixels.sizes()) request.add_pixel_shape(d);
    // float32 little-endian on the wire: the bytes as they are on every platform this builds for.
    static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the protocol's pixels are little-endian");
    request.set_pixels(pixels.data_ptr(), pixels.numel() * sizeof(float));
    ASSIGN_OR_RETURN(const proto::ScoreReply reply, socket_.call(request));
    const std::string where = "reward service '" + reward + "' (unix:" + socket_.options().path + ")";
    // The reward's own failure, as a module that raises: the batch's prompts are charged (poison prompts).
    if (!reply.error().empty()) return ModelError(where + " could not score the batch: " + reply.error());
    if (reply.scores_size() != pixels.size(0)) {
      return ModelError(where + " returned " + std::to_string(reply.scores_size()) + " scores for a batch of " +
                             std::to_string(pixels.size(0)));
    }
    const std::vector<float> scores(reply.scores().begin(), reply.scores().end());
    return c10::IValue(at::tensor(scores, at::TensorOptions().dtype(at::kFloat)).to(device_));
  }

 private:
  RewardSocket socket_;
  const at::Device device_;
};

}  // namespace

std::string reward_service_path(const std::string& address, const std::string& bundle_dir) {
  const std::filesystem::path path(address.substr(address.find(':') + 1));
  return path.is_absolute() ? path.string() : (std::filesystem::path(bundle_dir) / path).lexically_normal().string();
}

StatusOr<std::unique_ptr<LoadedModule>> open_reward_service(const proto::RewardSpec& spec, const std::string& bundle_dir,
                                                            const at::Device& device) {
  RewardSocketOptions options;
  options.path = reward_service_path(spec.service(), bundle_dir);
  options.reward = spec.name();
  options.timeout_seconds = spec.timeout_seconds();
  return std::unique_ptr<LoadedModule>(new RewardServiceModule(std::move(options), device));
}

}  // namespace evosearch
