// TorchBackend's resident-state side: frees, checkpoint bytes, data-plane buffers. Called from
// any thread (a worker's communication thread while the compute thread runs a batch): it touches
// only the state store, which locks itself, and constants.
#include "worker/tensor_io.h"
#include "worker/torch_backend.h"

#ifdef EVOSEARCH_WITH_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

namespace evosearch {
namespace {

// Keeps a tensor alive for as long as a StateBuffer points into it; on CUDA the buffer names the
// stream its bytes were produced on, so a data plane on another stream can wait for them.
StateBuffer buffer_of(const at::Tensor& contiguous) {
  StateBuffer b;
  b.data = contiguous.data_ptr();
  b.bytes = static_cast<size_t>(contiguous.numel() * contiguous.element_size());
  b.owner = std::make_shared<at::Tensor>(contiguous);
#ifdef EVOSEARCH_WITH_CUDA
  if (contiguous.is_cuda()) b.ready_stream = c10::cuda::getCurrentCUDAStream(contiguous.device().index()).stream();
#endif
  return b;
}

template <typename Body>
auto caught(const char* what, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const std::exception& e) {
    return Internal(std::string(what) + ": LibTorch raised: " + short_torch_error(e));
  }
}

}  // namespace

void TorchBackend::release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) {
  store_.release_all_but(prompt, live);
  kept_frames_.release_all_but(prompt, live);
  scored_frames_.release_all_but(prompt, live);
}

void TorchBackend::release_prompt(uint32_t prompt) {
  store_.release_prompt(prompt);
  kept_frames_.release_prompt(prompt);
  scored_frames_.release_prompt(prompt);
}

int64_t TorchBackend::state_bytes() const {
  int64_t n = 4;
  for (int64_t d : bundle_.latent_shape()) n *= d;
  return n;
}

StatusOr<std::vector<proto::StoredState>> TorchBackend::export_states(uint32_t prompt,
                                                                      const std::vector<proto::StateRef>& refs) {
  return caught("exporting states", [&]() -> StatusOr<std::vector<proto::StoredState>> {
    std::vector<proto::StoredState> out;
    for (const proto::StateRef& ref : refs) {
      const std::optional<StateTable::Entry> entry = store_.find(prompt, ref);
      if (!entry) return FailedPrecondition("checkpoint: " + describe_state(prompt, ref) + " is not resident");
      proto::StoredState s;
      *s.mutable_ref() = ref;
      s.set_state(tensor_to_bytes(entry->state));
      if (entry->x0.defined()) s.set_x0(tensor_to_bytes(entry->x0));
      out.push_back(std::move(s));
    }
    return out;
  });
}

Status TorchBackend::import_states(uint32_t prompt, const google::protobuf::RepeatedPtrField<proto::StoredState>& states) {
  return caught("importing states", [&]() -> Status {
    const std::vector<int64_t> shape = bundle_.latent_shape();
    for (const proto::StoredState& s : states) {
      StateTable::Entry entry;
      ASSIGN_OR_RETURN(entry.state, tensor_from_bytes(s.state(), bundle_.device()));
      if (!s.x0().empty()) {
        ASSIGN_OR_RETURN(entry.x0, tensor_from_bytes(s.x0(), bundle_.device()));
      }
      if (entry.state.sizes().vec() != shape || (entry.x0.defined() && entry.x0.sizes().vec() != shape)) {
        return DataLoss("checkpointed " + describe_state(prompt, s.ref()) + " does not have the bundle's latent shape");
      }
      store_.put(prompt, s.ref(), std::move(entry));
    }
    return Status::Ok();
  });
}

StatusOr<StateBuffer> TorchBackend::outgoing(uint32_t prompt, const proto::StateRef& ref, bool with_x0, bool device) {
  return caught("preparing a state to send", [&]() -> StatusOr<StateBuffer> {
    const std::optional<StateTable::Entry> entry = store_.find(prompt, ref);
    if (!entry) return FailedPrecondition("state move: " + describe_state(prompt, ref) + " is not resident here");
    if (with_x0 && !entry->x0.defined()) return FailedPrecondition("state move: the state has no x0 estimate to send");
    c10::InferenceMode guard;
    at::Tensor flat = with_x0 ? at::cat({entry->state.reshape({-1}), entry->x0.reshape({-1})}) : entry->state.reshape({-1});
    flat = flat.to(device ? bundle_.device() : at::Device(at::kCPU), at::kFloat).contiguous();
    return buffer_of(flat);
  });
}

StatusOr<StateBuffer> TorchBackend::incoming(bool with_x0, bool device) {
  return caught("allocating a buffer for a state", [&]() -> StatusOr<StateBuffer> {
    c10::InferenceMode guard;
    const int64_t n = state_bytes() / 4 * (with_x0 ? 2 : 1);
    const at::Device where = device ? bundle_.device() : at::Device(at::kCPU);
    return buffer_of(at::empty({n}, at::TensorOptions().dtype(at::kFloat).device(where)));
  });
}

Status TorchBackend::store_incoming(uint32_t prompt, const proto::StateRef& ref, bool with_x0, const StateBuffer& buffer) {
  return caught("storing a received state", [&]() -> Status {
    c10::InferenceMode guard;
    const at::Tensor flat = *std::static_pointer_cast<at::Tensor>(buffer.owner);
    const std::vector<int64_t> shape = bundle_.latent_shape();
    const int64_t n = state_bytes() / 4;
    if (flat.numel() != n * (with_x0 ? 2 : 1)) return Internal("state move: received buffer has the wrong size");
    StateTable::Entry entry;
    const at::Tensor on_device = flat.to(bundle_.device());
    entry.state = on_device.slice(0, 0, n).reshape(shape).clone();
    if (with_x0) entry.x0 = on_device.slice(0, n, 2 * n).reshape(shape).clone();
    store_.put(prompt, ref, std::move(entry));
    return Status::Ok();
  });
}

}  // namespace evosearch
