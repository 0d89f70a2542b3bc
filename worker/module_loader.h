// Module loading behind one small interface. This build loads TorchScript only: AOTInductor
// packages (.pt2) need LibTorch 2.x, which this machine's Debian packages do not have, so their
// loader is not written yet (it cannot be built or tested here). Everything above this interface
// sees named methods that take and return IValues.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "evosearch/bundle.pb.h"
#include "worker/torch_compat.h"

namespace evosearch {

class LoadedModule {
 public:
  virtual ~LoadedModule() = default;
  virtual bool has_method(const std::string& name) const = 0;
  // Runs `method` with its floating-point tensor inputs cast to the module's dtype; the output
  // is the module's own (its dtype included). LibTorch exceptions come back as a Status.
  virtual StatusOr<c10::IValue> run(const std::string& method, std::vector<c10::IValue> inputs) = 0;
};

class ModuleLoader {
 public:
  virtual ~ModuleLoader() = default;
  // Loads the module onto `device` with its floating-point weights and buffers in `dtype`
  // (converted once, here).
  virtual StatusOr<std::unique_ptr<LoadedModule>> load(const std::string& path, const at::Device& device,
                                                       at::ScalarType dtype) const = 0;
};

StatusOr<std::unique_ptr<ModuleLoader>> make_module_loader(proto::ModuleFormat format);

// The module formats this build loads, for --version and errors ("TorchScript").
std::string loadable_module_formats();

}  // namespace evosearch
