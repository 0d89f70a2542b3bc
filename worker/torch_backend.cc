#include "worker/torch_backend.h"

#include "worker/pixels.h"

namespace evosearch {
namespace {

// Keeps a tensor alive for as long as a StateBuffer points into it.
StateBuffer buffer_of(const at::Tensor& contiguous) {
  StateBuffer b;
  b.data = contiguous.data_ptr();
  b.bytes = static_cast<size_t>(contiguous.numel() * contiguous.element_size());
  b.owner = std::make_shared<at::Tensor>(contiguous);
  return b;
}

}  // namespace

TorchBackend::TorchBackend(Bundle& bundle, ExecutorOptions options, Schedule schedule)
    : bundle_(bundle), executor_(bundle, options, std::move(schedule)) {}

Status TorchBackend::add_prompt(uint32_t prompt, const std::string& text, uint64_t key) {
  return executor_.add_prompt(prompt, text, key);
}

StatusOr<std::vector<PromptResult>> TorchBackend::run(const std::vector<PromptTask>& tasks) { return executor_.run(tasks); }

void TorchBackend::release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) {
  executor_.store().release_all_but(prompt, live);
}

void TorchBackend::release_prompt(uint32_t prompt) { executor_.store().release_prompt(prompt); }

StatusOr<std::vector<proto::StoredState>> TorchBackend::export_states(uint32_t prompt,
                                                                      const std::vector<proto::StateRef>& refs) {
  return executor_.export_states(prompt, refs);
}

Status TorchBackend::import_states(uint32_t prompt, const google::protobuf::RepeatedPtrField<proto::StoredState>& states) {
  return executor_.import_states(prompt, states);
}

StatusOr<Image> TorchBackend::decode(uint32_t prompt, const proto::StateRef& ref) {
  ASSIGN_OR_RETURN(const at::Tensor pixels, executor_.decode_state(prompt, ref));
  std::vector<Image> images = to_images(pixels);
  if (images.size() != 1) return Internal("decoding one state gave " + std::to_string(images.size()) + " images");
  return std::move(images[0]);
}

StatusOr<std::vector<double>> TorchBackend::score(uint32_t prompt, const proto::StateRef& ref) {
  return executor_.score_state(prompt, ref);
}

StatusOr<StateBuffer> TorchBackend::outgoing(uint32_t prompt, const proto::StateRef& ref, bool with_x0, bool device) {
  const std::optional<StateStore::Entry> entry = executor_.store().find(prompt, ref);
  if (!entry) {
    return FailedPrecondition("state move: prompt " + std::to_string(prompt) + " state (generation " +
                              std::to_string(ref.generation()) + ", candidate " + std::to_string(ref.candidate()) +
                              ", step " + std::to_string(ref.step()) + ") is not resident here");
  }
  if (with_x0 && !entry->x0.defined()) return FailedPrecondition("state move: the state has no x0 estimate to send");
  c10::InferenceMode guard;
  at::Tensor flat = with_x0 ? at::cat({entry->state.reshape({-1}), entry->x0.reshape({-1})}) : entry->state.reshape({-1});
  flat = flat.to(device ? bundle_.device() : at::Device(at::kCPU), at::kFloat).contiguous();
  return buffer_of(flat);
}

StateBuffer TorchBackend::incoming(bool with_x0, bool device) {
  c10::InferenceMode guard;
  const int64_t n = state_bytes() / 4 * (with_x0 ? 2 : 1);
  return buffer_of(at::empty({n}, at::TensorOptions().dtype(at::kFloat).device(device ? bundle_.device() : at::Device(at::kCPU))));
}

Status TorchBackend::store_incoming(uint32_t prompt, const proto::StateRef& ref, bool with_x0, const StateBuffer& buffer) {
  c10::InferenceMode guard;
  const at::Tensor flat = *std::static_pointer_cast<at::Tensor>(buffer.owner);
  const std::vector<int64_t> shape = bundle_.latent_shape();
  const int64_t n = state_bytes() / 4;
  if (flat.numel() != n * (with_x0 ? 2 : 1)) return Internal("state move: received buffer has the wrong size");
  StateStore::Entry entry;
  const at::Tensor on_device = flat.to(bundle_.device());
  entry.state = on_device.slice(0, 0, n).reshape(shape).clone();
  if (with_x0) entry.x0 = on_device.slice(0, n, 2 * n).reshape(shape).clone();
  executor_.store().put(prompt, ref, std::move(entry));
  return Status::Ok();
}

int64_t TorchBackend::state_bytes() const {
  int64_t n = 4;
  for (int64_t d : bundle_.latent_shape()) n *= d;
  return n;
}

std::string TorchBackend::device() const { return bundle_.device().str(); }

}  // namespace evosearch
