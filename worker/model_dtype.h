// The precision a bundle's modules run in: the manifest's "dtype", overridden by a job spec's
// "model_dtype" or --dtype. Torch-free, so the job spec can check it before any model loads.
#pragma once

#include <string>

#include "common/status.h"

namespace evosearch {

inline constexpr char kDefaultModelDtype[] = "fp32";

// Ok for "fp32", "bf16" and "fp16"; otherwise InvalidArgument naming `field` and the choices.
Status check_model_dtype(const std::string& dtype, const std::string& field);

}  // namespace evosearch
