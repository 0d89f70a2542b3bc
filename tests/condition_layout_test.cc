// Version 2 conditions (manifest `conditions`): named token embeddings, a mask and a pooled
// vector reach the denoiser and a CONDITION reward as separate tensors in declared order, give
// exactly what the same model written against one flat vector gives, come from an encoder or a
// condition file, and every mismatch (a missing part, a wrong token width, a wrong dtype, an
// extra part, a denoiser still taking one vector) is refused when the bundle opens, naming it.
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tiny_bundle.h"
#include "token_bundle.h"
#include "worker/bundle.h"
#include "worker/generate.h"

namespace evosearch {
namespace {

using testing_support::flat_token_bundle;
using testing_support::fresh_dir;
using testing_support::replaced;
using testing_support::token_bundle;
using testing_support::TinyBundle;

StatusOr<Samples> sample(const std::string& dir, const std::string& prompt) {
  ASSIGN_OR_RETURN(std::unique_ptr<Bundle> bundle, Bundle::open(dir, at::kCPU));
  GenerateOptions options;
  options.sampler = default_sampler(bundle->manifest());
  options.guidance_scale = 2.0;
  options.batch_size = 2;
  options.seed = 4;
  return generate(*bundle, prompt, 3, options);
}

void expect_error(const TinyBundle& spec, const std::string& name, const std::vector<std::string>& fragments) {
  const Status status = Bundle::open(spec.write(fresh_dir(name)), at::kCPU).status();
  ASSERT_FALSE(status.ok()) << name;
  for (const std::string& f : fragments) {
    EXPECT_NE(status.message().find(f), std::string::npos) << name << ": lacks '" << f << "': " << status.message();
  }
}

TEST(ConditionLayout, NamedPartsGiveWhatTheFlatModelGives) {
  auto bundle = Bundle::open(token_bundle().write(fresh_dir("tokens")), at::kCPU);
  ASSERT_TRUE(bundle.ok()) << bundle.status().to_string();
  EXPECT_EQ((*bundle)->manifest().condition_dim(), 3 * 4 + 3 + 2);  // filled in from the parts
  for (const std::string prompt : {"a bag", "a bright long coat", ""}) {
    auto tokens = sample(token_bundle().write(fresh_dir("tokens-a")), prompt);
    auto flat = sample(flat_token_bundle().write(fresh_dir("tokens-flat")), prompt);
    ASSERT_TRUE(tokens.ok()) << tokens.status().to_string();
    ASSERT_TRUE(flat.ok()) << flat.status().to_string();
    EXPECT_TRUE(at::equal(tokens->pixels, flat->pixels)) << "'" << prompt << "'";
    ASSERT_EQ(tokens->scores.size(), 1u);
    EXPECT_EQ(tokens->scores[0], flat->scores[0]) << "'" << prompt << "'";
  }
  // The parts really reach the modules: prompts of other lengths give other samples.
  auto a = sample(token_bundle().write(fresh_dir("tokens-b")), "a bag");
  auto b = sample(token_bundle().write(fresh_dir("tokens-c")), "a bright long coat");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(at::allclose(a->pixels, b->pixels));
}

TEST(ConditionLayout, EveryMismatchIsNamedWhenTheBundleOpens) {
  TinyBundle wide = token_bundle();
  wide.encoder = replaced(wide.encoder, "tokens = torch.zeros(n, 3, 4)", "tokens = torch.zeros(n, 3, 5)");
  expect_error(wide, "tokens-wide", {"encoder.pt", "'tokens' has shape [2,3,5], expected [2,3,4]"});
  TinyBundle no_mask = token_bundle();
  no_mask.encoder = replaced(no_mask.encoder, R"("mask": mask, )", "");
  expect_error(no_mask, "tokens-no-mask", {"encoder output has no 'mask'", "tokens [3,4], mask [3], pooled [2]"});
  TinyBundle extra = token_bundle();
  extra.encoder = replaced(extra.encoder, R"("pooled": pooled})", R"("pooled": pooled, "seq_len": pooled})");
  expect_error(extra, "tokens-extra", {"'seq_len'", "do not declare"});
  TinyBundle ints = token_bundle();
  ints.encoder = replaced(ints.encoder, R"({"tokens": tokens,)", R"({"tokens": tokens.long(),)");
  expect_error(ints, "tokens-int", {"'tokens' has dtype Long", "expected float32"});
  TinyBundle flat_denoiser = token_bundle();
  flat_denoiser.denoiser = flat_token_bundle().denoiser;
  expect_error(flat_denoiser, "tokens-flat-denoiser", {"denoiser", "conditions tokens [3,4], mask [3], pooled [2]"});
  TinyBundle not_a_dict = token_bundle();
  not_a_dict.encoder = flat_token_bundle().encoder;
  expect_error(not_a_dict, "tokens-not-dict", {"is not a Dict[str, Tensor]"});
  TinyBundle dim = token_bundle();
  dim.manifest = replaced(dim.manifest, R"("conditions": [)", R"("condition_dim": 16, "conditions": [)");
  expect_error(dim, "tokens-dim", {"condition_dim: 16", "add up to 17"});
  TinyBundle twice = token_bundle();
  twice.manifest = replaced(twice.manifest, R"({"name": "mask", "shape": [3]})", R"({"name": "tokens", "shape": [3]})");
  expect_error(twice, "tokens-twice", {"conditions[1].name", "used twice"});
  TinyBundle no_shape = token_bundle();
  no_shape.manifest = replaced(no_shape.manifest, R"({"name": "pooled", "shape": [2]})", R"({"name": "pooled"})");
  expect_error(no_shape, "tokens-no-shape", {"conditions[2].shape: missing"});
}

TEST(ConditionLayout, AConditionFileHoldsTheNamedPartsPerPrompt) {
  TinyBundle spec = token_bundle();
  spec.encoder.clear();
  spec.manifest = replaced(spec.manifest, "\"encoder\": \"encoder.pt\"", "\"condition_file\": \"conditions.pt\"");
  const std::string dir = spec.write(fresh_dir("tokens-file"));
  auto parts = [](float value, int64_t width) {
    c10::impl::GenericDict d(c10::StringType::get(), c10::TensorType::get());
    d.insert("tokens", at::full({3, width}, value));
    d.insert("mask", at::ones({3}));
    d.insert("pooled", at::full({2}, value));
    return d;
  };
  auto write = [&](int64_t width) {
    c10::impl::GenericDict table(c10::StringType::get(), c10::AnyType::get());
    table.insert("a red bag", parts(1, width));
    table.insert("", parts(0, width));
    const std::vector<char> bytes = torch::jit::pickle_save(table);
    std::ofstream(dir + "/conditions.pt", std::ios::binary).write(bytes.data(), bytes.size());
  };
  write(5);
  const Status wrong = Bundle::open(dir, at::kCPU).status();
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.message().find("the condition of 'a red bag': 'tokens' has shape [3,5], expected [3,4]"), std::string::npos)
      << wrong.message();
  write(4);
  auto bundle = Bundle::open(dir, at::kCPU);
  ASSERT_TRUE(bundle.ok()) << bundle.status().to_string();
  auto cond = (*bundle)->encode({"a red bag", ""});
  ASSERT_TRUE(cond.ok()) << cond.status().to_string();
  ASSERT_EQ(cond->sizes(), (std::vector<int64_t>{2, 17}));
  EXPECT_EQ(cond->index({0}).sum().item<float>(), 12 + 3 + 2);  // tokens and pooled 1, mask 1
  EXPECT_EQ(cond->index({1}).sum().item<float>(), 3);           // only the mask
}

}  // namespace
}  // namespace evosearch
