// Bundle loading: a good bundle loads and runs; every kind of broken bundle stops with a
// message naming the file (or manifest field) and what was expected.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tiny_bundle.h"
#include "worker/bundle.h"
#include "worker/generate.h"

namespace evosearch {
namespace {

using testing_support::fresh_dir;
using testing_support::replaced;
using testing_support::TinyBundle;

Status open_status(const TinyBundle& spec, const std::string& name) {
  const std::string dir = spec.write(fresh_dir(name));
  return Bundle::open(dir, at::kCPU).status();
}

void expect_error(const Status& status, const std::vector<std::string>& fragments) {
  ASSERT_FALSE(status.ok());
  for (const std::string& f : fragments) EXPECT_NE(status.message().find(f), std::string::npos)
      << "message lacks '" << f << "': " << status.message();
}

TEST(Bundle, GoodBundleLoadsAndSamples) {
  const std::string dir = TinyBundle().write(fresh_dir("good"));
  auto bundle = Bundle::open(dir, at::kCPU);
  ASSERT_TRUE(bundle.ok()) << bundle.status().to_string();
  EXPECT_EQ((*bundle)->pixel_shape(), (std::vector<int64_t>{1, 4, 4}));
  EXPECT_EQ((*bundle)->manifest().defaults().order(), 2);  // filled-in default
  GenerateOptions options;
  options.sampler = default_sampler((*bundle)->manifest());
  options.guidance_scale = 2.0;
  options.batch_size = 2;
  options.seed = 1;
  auto samples = generate(**bundle, "a prompt", 3, options);
  ASSERT_TRUE(samples.ok()) << samples.status().to_string();
  EXPECT_EQ(samples->pixels.sizes(), (std::vector<int64_t>{3, 1, 4, 4}));
  EXPECT_EQ(samples->nfe, 3 * 6);  // 6 steps each; a CFG pair counts once
  ASSERT_EQ(samples->scores.size(), 1u);
  EXPECT_EQ(samples->scores[0].size(), 3u);
  // Same keys, different batching: the same images.
  options.batch_size = 3;
  auto again = generate(**bundle, "a prompt", 3, options);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(at::allclose(samples->pixels, again->pixels, 1e-6, 1e-6));
}

TEST(Bundle, MissingManifest) {
  expect_error(Bundle::open(fresh_dir("empty"), at::kCPU).status(), {"manifest.json", "cannot open"});
}

TEST(Bundle, MissingModuleFile) {
  TinyBundle spec;
  spec.denoiser.clear();
  expect_error(open_status(spec, "missing"), {"denoiser.pt", "the denoiser named in manifest.json", "does not exist"});
}

TEST(Bundle, CorruptModuleFile) {
  const std::string dir = TinyBundle().write(fresh_dir("corrupt"));
  std::ofstream(dir + "/decoder.pt", std::ios::trunc) << "this is not a zip archive";
  expect_error(Bundle::open(dir, at::kCPU).status(), {"decoder.pt", "not a loadable TorchScript module"});
}

TEST(Bundle, AnAotInductorPackageIsRefusedWithWhatToDo) {
  TinyBundle spec;
  spec.manifest = replaced(spec.manifest, "\"decoder.pt\"", "\"decoder.pt2\"");
  const std::string dir = spec.write(fresh_dir("pt2"));
  std::filesystem::rename(dir + "/decoder.pt", dir + "/decoder.pt2");
  expect_error(Bundle::open(dir, at::kCPU).status(),
               {"decoder.pt2", "AOTInductor package", "loads TorchScript only", "torch.jit.save"});
}

// A bundle with one module replaced by `source`, and the words its error must contain.
struct BrokenModule {
  const char* name;
  std::string TinyBundle::*module;
  std::string source;
  std::vector<std::string> fragments;
};

TEST(Bundle, BrokenModulesAreNamed) {
  const std::string denoise = "\ndef forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:\n    return ";
  const std::string decode = "\ndef forward(self, z: Tensor) -> Tensor:\n    return ";
  const std::vector<BrokenModule> cases = {
      {"shape", &TinyBundle::denoiser, denoise + "x[:, :, :2]\n", {"denoiser.pt", "shape [2,1,2,4]", "expected [2,1,4,4]"}},
      {"dtype", &TinyBundle::denoiser, denoise + "x.double()\n", {"denoiser.pt", "dtype", "expected float32"}},
      {"nan", &TinyBundle::denoiser, denoise + "x * float('nan')\n", {"denoiser.pt", "NaN"}},
      {"raises", &TinyBundle::denoiser, denoise + "x + torch.ones(3)\n", {"denoiser.pt", "forward() raised"}},
      {"range", &TinyBundle::decoder, decode + "z * 10.0\n", {"decoder.pt", "expected pixels in [0, 1]"}},
      {"rank", &TinyBundle::decoder, decode + "torch.sigmoid(z.flatten(1))\n", {"decoder.pt", "shape [2,16]", "expected [2,?,?,?]"}},
      {"reward", &TinyBundle::reward, "\ndef forward(self, pixels: Tensor, cond: Tensor) -> Tensor:\n    return pixels.flatten(1)\n",
       {"rewards/brightness.pt", "reward output", "expected [2]"}},
  };
  for (const BrokenModule& c : cases) {
    SCOPED_TRACE(c.name);
    TinyBundle spec;
    spec.*c.module = c.source;
    expect_error(open_status(spec, c.name), c.fragments);
  }
}

TEST(Bundle, EncoderWrongWidth) {
  TinyBundle spec;
  spec.manifest = replaced(spec.manifest, "\"condition_dim\": 4", "\"condition_dim\": 8");
  expect_error(open_status(spec, "width"), {"encoder.pt", "expected [2,8]"});
}

TEST(Bundle, IdentityDecoderNeedsNoFile) {
  TinyBundle spec;
  spec.decoder.clear();
  spec.manifest = replaced(spec.manifest, "\"decoder\": \"decoder.pt\"", "\"decoder\": \"identity\"");
  const std::string dir = spec.write(fresh_dir("identity"));
  auto bundle = Bundle::open(dir, at::kCPU);
  ASSERT_TRUE(bundle.ok()) << bundle.status().to_string();
  auto pixels = (*bundle)->decode(at::full({1, 1, 4, 4}, 3.0));
  ASSERT_TRUE(pixels.ok());
  EXPECT_EQ(pixels->max().item<float>(), 1.0f);
}

TEST(Bundle, ConditionFileInsteadOfEncoder) {
  TinyBundle spec;
  spec.encoder.clear();
  spec.manifest = replaced(spec.manifest, "\"encoder\": \"encoder.pt\"", "\"condition_file\": \"conditions.pt\"");
  const std::string dir = spec.write(fresh_dir("conditions"));
  c10::impl::GenericDict table(c10::StringType::get(), c10::TensorType::get());
  table.insert("a red bag", at::ones({4}));
  auto write_table = [&]() {
    const std::vector<char> bytes = torch::jit::pickle_save(table);
    std::ofstream(dir + "/conditions.pt", std::ios::binary).write(bytes.data(), bytes.size());
  };
  write_table();
  expect_error(Bundle::open(dir, at::kCPU).status(), {"conditions.pt", "no condition for the null_prompt"});
  table.insert("", at::zeros({4}));
  write_table();
  auto bundle = Bundle::open(dir, at::kCPU);
  ASSERT_TRUE(bundle.ok()) << bundle.status().to_string();
  auto cond = (*bundle)->encode({"a red bag", ""});
  ASSERT_TRUE(cond.ok());
  EXPECT_EQ(cond->sizes(), (std::vector<int64_t>{2, 4}));
  expect_error((*bundle)->encode({"a blue bag"}).status(), {"no precomputed condition", "a blue bag"});
}

struct ManifestCase {
  const char* from;
  const char* to;
  std::vector<std::string> fragments;
};

TEST(Bundle, ManifestErrorsNameTheField) {
  const std::vector<ManifestCase> cases = {
      {"\"name\": \"tiny\"", "\"name\": \"tiny\", \"colour\": 3", {"manifest.json", "colour"}},
      {"\"FLOW\"", "\"FLUX\"", {"manifest.json", "model_kind"}},
      {"\"VELOCITY\"", "\"EPSILON\"", {"prediction", "does not fit", "FLOW"}},
      {"[1, 4, 4]", "[4, 4]", {"latent_shape", "[C,H,W]"}},
      {"[1, 4, 4]", "[1, 0, 4]", {"latent_shape", "positive"}},
      {"\"guidance\": true", "\"guidance\": false", {"rewards", "exactly one", "guidance"}},
      {"\"steps\": 6", "\"steps\": 6, \"order\": 3", {"defaults.order"}},
      {"\"encoder\": \"encoder.pt\", ", "", {"encoder/condition_file", "exactly one"}},
      {"\"shift\": 1.0", "\"shift\": -2.0", {"flow.shift"}},
  };
  for (const ManifestCase& c : cases) {
    TinyBundle spec;
    spec.manifest = replaced(spec.manifest, c.from, c.to);
    SCOPED_TRACE(c.to);
    expect_error(open_status(spec, "manifest"), c.fragments);
  }
}

}  // namespace
}  // namespace evosearch
