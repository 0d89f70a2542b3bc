#include "worker/model_dtype.h"

namespace evosearch {

Status check_model_dtype(const std::string& dtype, const std::string& field) {
  if (dtype == "fp32" || dtype == "bf16" || dtype == "fp16") return Status::Ok();
  return InvalidArgument(field + ": '" + dtype + "' is not a model dtype; expected fp32, bf16 or fp16");
}

}  // namespace evosearch
