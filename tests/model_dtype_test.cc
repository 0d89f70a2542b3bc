// Bundles run in bf16 (fp16 on CUDA): weights converted once, inputs cast at each call, outputs
// and everything outside the modules float32. bf16 samples stay within a stated tolerance of
// fp32's; fp32, the default, is unchanged; a bad dtype is refused naming where it was set.
#include <algorithm>
#include <filesystem>

#include <gtest/gtest.h>

#include "coordinator/job_spec.h"
#include "tiny_bundle.h"
#include "worker/generate.h"
#include "worker/tensor_io.h"
#include "worker/torch_backend.h"

namespace evosearch {
namespace {

using testing_support::fresh_dir;
using testing_support::replaced;
using testing_support::TinyBundle;

// bf16 keeps 8 significant bits (relative rounding 2^-9 per operation). Over the tiny bundle's
// 6 steps and a convolution per call, the decoded pixels (in [0, 1]) of a bf16 run stay within
// this of the fp32 run's, and so do the rewards (pixel means). README.md states the same bound.
constexpr double kBf16PixelTolerance = 0.02;

// A denoiser with weights (a 3x3 convolution), a floating buffer and an integer buffer (an index
// that must stay an integer); it refuses inputs that are not in its weights' dtype.
void write_weighted_denoiser(const std::string& path) {
  torch::jit::Module m("WeightedDenoiser");
  m.register_parameter("weight", at::full({2, 1, 3, 3}, 1.0 / 9) + 0.01 * at::arange(18).reshape({2, 1, 3, 3}), false);
  m.register_buffer("scale", at::full({1}, 0.5));
  m.register_buffer("channel", at::tensor({int64_t{1}}));
  m.define(R"(
def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
    assert x.dtype == self.weight.dtype and t.dtype == x.dtype and cond.dtype == x.dtype, "an input is not in the module dtype"
    y = torch.conv2d(x, self.weight, padding=1)
    return self.scale * y[:, self.channel] + 0.01 * cond[:, 0].reshape(-1, 1, 1, 1) + 0.0001 * t.reshape(-1, 1, 1, 1)
)");
  m.save(path);
}

std::string weighted_bundle(const std::string& name, const std::string& manifest_dtype = "") {
  TinyBundle b;
  if (!manifest_dtype.empty()) b.manifest = replaced(b.manifest, "\"null_prompt\": \"\"", "\"null_prompt\": \"\", \"dtype\": \"" + manifest_dtype + "\"");
  const std::string dir = b.write(fresh_dir(name));
  write_weighted_denoiser(dir + "/denoiser.pt");
  return dir;
}

StatusOr<Samples> sample(Bundle& bundle, int count = 4) {
  GenerateOptions options;
  options.sampler = default_sampler(bundle.manifest());
  options.guidance_scale = 2.0;
  options.batch_size = count;
  options.seed = 3;
  return generate(bundle, "a long prompt", count, options);
}

double max_abs_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

TEST(ModelDtype, Bf16SamplesStayWithinToleranceOfFp32) {
  const std::string dir = weighted_bundle("dtype-bf16");
  auto fp32 = Bundle::open(dir, at::kCPU);
  ASSERT_TRUE(fp32.ok()) << fp32.status().to_string();
  BundleOptions options;
  options.dtype = "bf16";
  auto bf16 = Bundle::open(dir, at::kCPU, options);
  ASSERT_TRUE(bf16.ok()) << bf16.status().to_string();
  EXPECT_EQ((*fp32)->dtype(), "fp32");
  EXPECT_EQ((*bf16)->dtype(), "bf16");
  auto a = sample(**fp32), b = sample(**bf16);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_EQ(b->pixels.scalar_type(), at::kFloat);  // outputs come back as float32
  const double pixel_error = (a->pixels - b->pixels).abs().max().item<double>();
  EXPECT_GT(pixel_error, 0.0) << "bf16 gave fp32's samples bit for bit: did the modules run in bf16?";
  EXPECT_LE(pixel_error, kBf16PixelTolerance);
  EXPECT_LE(max_abs_difference(a->scores[0], b->scores[0]), kBf16PixelTolerance);
}

TEST(ModelDtype, StatesStayFloat32) {
  auto bundle = Bundle::open(weighted_bundle("dtype-states", "bf16"), at::kCPU);
  ASSERT_TRUE(bundle.ok()) << bundle.status().to_string();
  EXPECT_EQ((*bundle)->dtype(), "bf16");  // from the manifest
  BackendOptions options;
  options.sampler = default_sampler((*bundle)->manifest());
  auto schedule = make_schedule((*bundle)->manifest(), options.sampler);
  ASSERT_TRUE(schedule.ok());
  TorchBackend backend(**bundle, options, *schedule);
  ASSERT_TRUE(backend.add_prompt(0, "a bag", 1).ok());
  proto::PromptRolloutTask task;
  task.mutable_task()->set_end_step(3);
  task.mutable_task()->add_keep_steps(3);
  auto results = backend.run({task});
  ASSERT_TRUE(results.ok()) << results.status().to_string();
  EXPECT_EQ(backend.state_bytes(), 4 * 16);
  auto stored = backend.export_states(0, {state_ref(0, 0, 3)});
  ASSERT_TRUE(stored.ok()) << stored.status().to_string();
  auto state = tensor_from_bytes((*stored)[0].state(), at::kCPU);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->scalar_type(), at::kFloat);
}

TEST(ModelDtype, Fp32IsTheDefaultAndChangesNothing) {
  auto plain = Bundle::open(weighted_bundle("dtype-default"), at::kCPU);
  auto explicit_fp32 = Bundle::open(weighted_bundle("dtype-fp32", "fp32"), at::kCPU);
  ASSERT_TRUE(plain.ok() && explicit_fp32.ok());
  EXPECT_EQ((*plain)->manifest().dtype(), "fp32");  // filled-in default
  auto a = sample(**plain), b = sample(**explicit_fp32);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(at::equal(a->pixels, b->pixels));
  // The spec's override wins over the manifest's dtype.
  BundleOptions options;
  options.dtype = "fp32";
  auto overridden = Bundle::open(weighted_bundle("dtype-override", "bf16"), at::kCPU, options);
  ASSERT_TRUE(overridden.ok());
  EXPECT_EQ((*overridden)->dtype(), "fp32");
  auto c = sample(**overridden);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(at::equal(a->pixels, c->pixels));
}

TEST(ModelDtype, RefusedNamingWhereItWasSet) {
  const std::string dir = weighted_bundle("dtype-refused");
  BundleOptions options;
  options.dtype = "fp16";
  options.dtype_field = "--dtype";
  const Status cpu_half = Bundle::open(dir, at::kCPU, options).status();
  EXPECT_NE(cpu_half.message().find("--dtype: fp16 runs on CUDA devices only"), std::string::npos) << cpu_half.message();
  const Status from_manifest = Bundle::open(weighted_bundle("dtype-refused-manifest", "fp16"), at::kCPU).status();
  EXPECT_NE(from_manifest.message().find("manifest.json: dtype: fp16 runs on CUDA"), std::string::npos)
      << from_manifest.message();
  options.dtype = "int8";
  options.dtype_field = "model_dtype";
  const Status unknown = Bundle::open(dir, at::kCPU, options).status();
  EXPECT_NE(unknown.message().find("model_dtype: 'int8' is not a model dtype; expected fp32, bf16 or fp16"),
            std::string::npos) << unknown.message();

  const std::string spec = R"({"bundle": "b", "prompts": "p.txt", "output": "o", "model_dtype": "BF16"})";
  const Status bad_spec = parse_job_spec(spec, "job.json", "/tmp").status();
  EXPECT_NE(bad_spec.message().find("job.json: model_dtype: 'BF16'"), std::string::npos) << bad_spec.message();
  auto good_spec = parse_job_spec(replaced(spec, "BF16", "bf16"), "job.json", "/tmp");
  ASSERT_TRUE(good_spec.ok()) << good_spec.status().to_string();
  EXPECT_EQ(good_spec->model_dtype(), "bf16");
}

// A module's output in its own dtype is accepted and cast back; any other dtype is refused.
TEST(ModelDtype, OutputsInTheModuleDtypeAreAccepted) {
  TinyBundle b;
  b.denoiser = "\ndef forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:\n    return x.double()\n";
  b.manifest = replaced(b.manifest, "\"null_prompt\": \"\"", "\"null_prompt\": \"\", \"dtype\": \"bf16\"");
  const Status doubled = Bundle::open(b.write(fresh_dir("dtype-double")), at::kCPU).status();
  EXPECT_NE(doubled.message().find("has dtype Double, expected float32 or bf16 (the bundle's dtype)"), std::string::npos)
      << doubled.message();
  // The tiny bundle's encoder makes float32 zeros whatever its dtype: accepted as well.
  auto bundle = Bundle::open(TinyBundle().write(fresh_dir("dtype-mixed")), at::kCPU, BundleOptions{"bf16", "model_dtype"});
  ASSERT_TRUE(bundle.ok()) << bundle.status().to_string();
  auto x0 = (*bundle)->denoise(at::ones({1, 1, 4, 4}), at::full({1}, 500.0), at::zeros({1, 4}));
  ASSERT_TRUE(x0.ok());
  EXPECT_EQ(x0->scalar_type(), at::kFloat);
}

}  // namespace
}  // namespace evosearch
