#include "worker/prediction.h"

namespace evosearch {

at::Tensor prediction_to_x0(const at::Tensor& p, const at::Tensor& x, proto::Prediction kind,
                            double alpha, double sigma) {
  switch (kind) {
    case proto::EPSILON: return (x - sigma * p) / alpha;
    case proto::V_PREDICTION: return alpha * x - sigma * p;  // variance-preserving only
    case proto::VELOCITY: return x - sigma * p;              // v = noise - x0
    default: return p;                                       // SAMPLE
  }
}

at::Tensor x0_to_prediction(const at::Tensor& x0, const at::Tensor& x, proto::Prediction kind,
                            double alpha, double sigma) {
  switch (kind) {
    case proto::EPSILON: return (x - alpha * x0) / sigma;
    case proto::V_PREDICTION: return alpha * (x - alpha * x0) / sigma - sigma * x0;
    case proto::VELOCITY: return (x - x0) / sigma;
    default: return x0;
  }
}

Status check_prediction(proto::ModelKind model, proto::Prediction prediction) {
  if (model == proto::DIFFUSION &&
      (prediction == proto::EPSILON || prediction == proto::V_PREDICTION || prediction == proto::SAMPLE)) {
    return Status::Ok();
  }
  if (model == proto::FLOW && (prediction == proto::VELOCITY || prediction == proto::SAMPLE)) {
    return Status::Ok();
  }
  return InvalidArgument("prediction: " + proto::Prediction_Name(prediction) + " does not fit model_kind " +
                         proto::ModelKind_Name(model) +
                         " (DIFFUSION takes EPSILON, V_PREDICTION or SAMPLE; FLOW takes VELOCITY or SAMPLE)");
}

}  // namespace evosearch
