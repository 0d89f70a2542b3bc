// Version 2 conditions (manifest `conditions`): a prompt's condition is a few named tensors —
// token embeddings [L, D], a mask [L], a pooled vector [P] — as SD, FLUX and Wan take them.
// Above the Bundle a condition travels packed: one float32 row [width] per prompt, its parts
// flattened one after another in declared order, so stacking prompts into a batch, the
// classifier-free guidance pair and the per-prompt tables stay what they are for a version 1
// vector [condition_dim]. The Bundle packs what the encoder (or the condition file) gives and
// unpacks the rows into the declared parts, as views without copying, at each module call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "evosearch/bundle.pb.h"
#include "worker/torch_compat.h"

namespace evosearch {

class ConditionLayout {
 public:
  ConditionLayout() = default;
  // From a checked manifest, whose condition_dim is the parts' total size when it has parts.
  explicit ConditionLayout(const proto::BundleManifest& manifest);

  // Whether the manifest declares named parts (version 2); otherwise one vector [width].
  bool structured() const { return !parts_.empty(); }
  int64_t width() const { return width_; }

  // Packs a Dict[str, Tensor] holding every declared part, each [batch, *shape] (or [*shape] when
  // `batch` < 0: one prompt of a condition file), into [batch, width] (or [width]) float32 on the
  // CPU or the parts' device. Each part must be float32 or `module_dtype` (a mask may also be
  // bool). A missing, extra, misshapen or mistyped part is a model error (charged to the prompt
  // when it happens in a job; the dry run meets it first) naming the part, what it has and what
  // the manifest declares, prefixed by `what`.
  StatusOr<at::Tensor> pack(const c10::IValue& value, int64_t batch, at::ScalarType module_dtype,
                            const std::string& what) const;

  // The module inputs for packed conditions [B, width]: each declared part as a [B, *shape] view,
  // in declared order; version 1: the tensor itself.
  std::vector<c10::IValue> unpack(const at::Tensor& packed) const;

  // "tokens [77,1024], mask [77], pooled [768]", or "one vector [16]".
  std::string describe() const;

 private:
  struct Part {
    std::string name;
    std::vector<int64_t> shape;
    int64_t offset = 0, size = 1;
  };
  std::vector<Part> parts_;
  int64_t width_ = 0;
};

}  // namespace evosearch
