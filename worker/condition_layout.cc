#include "worker/condition_layout.h"

#include <map>
#include <set>
#include <sstream>

namespace evosearch {
namespace {

std::string dims(at::IntArrayRef shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? "," : "") << shape[i];
  out << "]";
  return out.str();
}

}  // namespace

ConditionLayout::ConditionLayout(const proto::BundleManifest& manifest) : width_(manifest.condition_dim()) {
  int64_t offset = 0;
  for (const proto::ConditionPart& declared : manifest.conditions()) {
    Part part;
    part.name = declared.name();
    part.shape.assign(declared.shape().begin(), declared.shape().end());
    for (int64_t d : part.shape) part.size *= d;
    part.offset = offset;
    offset += part.size;
    parts_.push_back(std::move(part));
  }
}

StatusOr<at::Tensor> ConditionLayout::pack(const c10::IValue& value, int64_t batch, at::ScalarType module_dtype,
                                           const std::string& what) const {
  if (!value.isGenericDict()) {
    return ModelError(what + " is not a Dict[str, Tensor]; the manifest declares the conditions " + describe());
  }
  std::map<std::string, at::Tensor> given;
  for (const auto& entry : value.toGenericDict()) {
    if (!entry.key().isString() || !entry.value().isTensor()) {
      return ModelError(what + " has a key or value that is not str -> Tensor; expected " + describe());
    }
    given.emplace(entry.key().toStringRef(), entry.value().toTensor());
  }
  std::set<std::string> declared;
  std::vector<at::Tensor> flat;
  for (const Part& part : parts_) {
    declared.insert(part.name);
    auto it = given.find(part.name);
    if (it == given.end()) {
      return ModelError(what + " has no '" + part.name + "' (the manifest declares " + describe() + ")");
    }
    const at::Tensor& t = it->second;
    std::vector<int64_t> expected = part.shape;
    if (batch >= 0) expected.insert(expected.begin(), batch);
    if (t.sizes().vec() != expected) {
      return ModelError(what + ": '" + part.name + "' has shape " + dims(t.sizes()) + ", expected " +
                             dims(expected) + " (the manifest's conditions declare " + part.name + " " +
                             dims(part.shape) + (batch >= 0 ? ", after the batch" : "") + ")");
    }
    const at::ScalarType type = t.scalar_type();
    if (type != at::kFloat && type != module_dtype && type != at::kBool) {
      return ModelError(what + ": '" + part.name + "' has dtype " + std::string(c10::toString(type)) +
                             ", expected float32" + (module_dtype == at::kFloat ? "" : " or the bundle's dtype") +
                             " (a mask may be bool)");
    }
    flat.push_back(t.to(at::kFloat).reshape({batch >= 0 ? batch : 1, part.size}));
  }
  for (const auto& [name, tensor] : given) {
    if (!declared.count(name)) {
      return ModelError(what + " has '" + name + "', which the manifest's conditions do not declare (" +
                             describe() + ")");
    }
  }
  at::Tensor packed = at::cat(flat, 1);
  return batch >= 0 ? packed : packed[0];
}

std::vector<c10::IValue> ConditionLayout::unpack(const at::Tensor& packed) const {
  if (!structured()) return {packed};
  std::vector<c10::IValue> out;
  const int64_t batch = packed.size(0);
  for (const Part& part : parts_) {
    std::vector<int64_t> shape = part.shape;
    shape.insert(shape.begin(), batch);
    out.emplace_back(packed.narrow(1, part.offset, part.size).view(shape));
  }
  return out;
}

std::string ConditionLayout::describe() const {
  if (!structured()) return "one vector [" + std::to_string(width_) + "]";
  std::string out;
  for (const Part& part : parts_) out += (out.empty() ? "" : ", ") + part.name + " " + dims(part.shape);
  return out;
}

}  // namespace evosearch
