// Turns whatever the denoiser predicts into the clean-sample estimate x0 that every sampler
// works with. Linear in the prediction, so classifier-free guidance on x0 equals guidance on
// the raw output.
#pragma once

#include <ATen/ATen.h>

#include "common/status.h"
#include "evosearch/bundle.pb.h"

namespace evosearch {

// x_t = alpha * x0 + sigma * noise. For FLOW models alpha = 1 - sigma.
at::Tensor prediction_to_x0(const at::Tensor& prediction, const at::Tensor& x, proto::Prediction kind,
                            double alpha, double sigma);

// The inverse, used by tests and by exact reference models.
at::Tensor x0_to_prediction(const at::Tensor& x0, const at::Tensor& x, proto::Prediction kind,
                            double alpha, double sigma);

// Which predictions make sense for which model kind.
Status check_prediction(proto::ModelKind model, proto::Prediction prediction);

}  // namespace evosearch
