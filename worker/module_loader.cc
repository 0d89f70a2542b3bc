#include "worker/module_loader.h"

#include <filesystem>

namespace evosearch {
namespace {

class TorchScriptModule final : public LoadedModule {
 public:
  TorchScriptModule(torch::jit::Module module, at::ScalarType dtype) : module_(std::move(module)), dtype_(dtype) {
    module_.eval();
    // Module::to(dtype) would convert integer buffers (step counters, index tables) too.
    if (dtype_ != at::kFloat) {
      for (at::Tensor p : module_.parameters()) {
        if (p.is_floating_point()) p.set_data(p.to(dtype_));
      }
      for (at::Tensor b : module_.buffers()) {
        if (b.is_floating_point()) b.set_data(b.to(dtype_));
      }
    }
  }

  bool has_method(const std::string& name) const override { return module_.find_method(name).has_value(); }

  StatusOr<c10::IValue> run(const std::string& method, std::vector<c10::IValue> inputs) override {
    try {
      if (dtype_ != at::kFloat) {
        for (c10::IValue& in : inputs) {
          if (in.isTensor() && in.toTensor().is_floating_point()) in = in.toTensor().to(dtype_);
        }
      }
      return module_.get_method(method)(std::move(inputs));
    } catch (const c10::OutOfMemoryError& e) {  // the machine's, not the inputs': never charged to a prompt
      return Internal("method " + method + "() ran out of memory: " + short_torch_error(e));
    } catch (const std::exception& e) {
      return ModelError("method " + method + "() raised: " + short_torch_error(e));
    }
  }

 private:
  torch::jit::Module module_;
  const at::ScalarType dtype_;
};

class TorchScriptLoader final : public ModuleLoader {
 public:
  StatusOr<std::unique_ptr<LoadedModule>> load(const std::string& path, const at::Device& device,
                                               at::ScalarType dtype) const override {
    if (!std::filesystem::is_regular_file(path)) return NotFound("file does not exist");
    if (std::filesystem::path(path).extension() == ".pt2") {
      return InvalidArgument("an AOTInductor package (.pt2); this build loads " + loadable_module_formats() +
                             " only: export the module with torch.jit.script or torch.jit.trace and torch.jit.save");
    }
    try {
      return std::unique_ptr<LoadedModule>(new TorchScriptModule(torch::jit::load(path, device), dtype));
    } catch (const std::exception& e) {
      return DataLoss("not a loadable TorchScript module (" + short_torch_error(e, 1) + ")");
    }
  }
};

}  // namespace

std::string loadable_module_formats() { return "TorchScript"; }

StatusOr<std::unique_ptr<ModuleLoader>> make_module_loader(proto::ModuleFormat format) {
  if (format == proto::TORCHSCRIPT || format == proto::MODULE_FORMAT_UNSPECIFIED) {
    return std::unique_ptr<ModuleLoader>(new TorchScriptLoader());
  }
  return InvalidArgument("format: " + proto::ModuleFormat_Name(format) + " is not supported by this build (it loads " +
                         loadable_module_formats() + ")");
}

}  // namespace evosearch
