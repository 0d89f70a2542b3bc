// CUDA runs give the same samples as CPU runs (keyed noise within float32 rounding). Skipped
// cleanly on machines without a GPU.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "tiny_bundle.h"
#include "worker/bundle.h"
#include "worker/generate.h"
#include "worker/runtime.h"

namespace evosearch {
namespace {

class Gpu : public testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  }
};

StatusOr<Samples> sample_on(const std::string& dir, at::Device device) {
  ASSIGN_OR_RETURN(std::unique_ptr<Bundle> bundle, Bundle::open(dir, device));
  GenerateOptions options;
  options.sampler = default_sampler(bundle->manifest());
  options.guidance_scale = 2.0;
  options.seed = 3;
  return generate(*bundle, "a bag", 6, options);
}

TEST_F(Gpu, CudaSamplesMatchCpuSamples) {
  const std::string dir = testing_support::TinyBundle().write(testing_support::fresh_dir("gpu"));
  auto cpu = sample_on(dir, at::kCPU);
  auto cuda = sample_on(dir, at::Device(at::kCUDA, 0));
  ASSERT_TRUE(cpu.ok()) << cpu.status().to_string();
  ASSERT_TRUE(cuda.ok()) << cuda.status().to_string();
  EXPECT_TRUE(at::allclose(cpu->pixels, cuda->pixels, 1e-4, 1e-5));
  EXPECT_EQ(cpu->nfe, cuda->nfe);
}

TEST_F(Gpu, BundledModelsRunOnCuda) {
  for (const char* name : {"fashion-ddpm", "fashion-flow"}) {
    const std::string dir = std::string(EVOSEARCH_SOURCE_DIR) + "/models/" + name;
    auto bundle = Bundle::open(dir, at::Device(at::kCUDA, 0));
    ASSERT_TRUE(bundle.ok()) << bundle.status().to_string();
  }
}

TEST_F(Gpu, DeviceChoice) {
  auto device = choose_device("auto");
  ASSERT_TRUE(device.ok());
  EXPECT_TRUE(device->is_cuda());
  EXPECT_FALSE(choose_device("cuda:999").ok());
}

}  // namespace
}  // namespace evosearch
