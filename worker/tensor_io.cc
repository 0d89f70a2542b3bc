#include "worker/tensor_io.h"

#include "worker/torch_compat.h"

namespace evosearch {

std::string tensor_to_bytes(const at::Tensor& tensor) {
  const std::vector<char> bytes = torch::jit::pickle_save(tensor.to(at::kCPU).contiguous());
  return std::string(bytes.begin(), bytes.end());
}

StatusOr<at::Tensor> tensor_from_bytes(const std::string& bytes, const at::Device& device) {
  try {
    const c10::IValue value = torch::jit::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
    if (!value.isTensor()) return DataLoss("stored state is not a tensor");
    return value.toTensor().to(device);
  } catch (const std::exception& e) {
    return DataLoss("stored state does not load (" + short_torch_error(e, 1) + ")");
  }
}

}  // namespace evosearch
