// Tensors to bytes and back (LibTorch's torch.save format), for checkpoints.
#pragma once

#include <string>

#include <ATen/ATen.h>

#include "common/status.h"

namespace evosearch {

std::string tensor_to_bytes(const at::Tensor& tensor);
StatusOr<at::Tensor> tensor_from_bytes(const std::string& bytes, const at::Device& device);

}  // namespace evosearch
