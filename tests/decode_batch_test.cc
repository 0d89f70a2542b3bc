// Memory that stays bounded at the decode/reward step: a memory limit that cannot hold a whole
// batch's decoded pixels makes the worker decode and score in sub-batches (sized by the memory
// estimate) instead of refusing the job, and sub-batches give the same fitness as whole batches.
#include <gtest/gtest.h>

#include "coordinator/memory_estimate.h"
#include "tiny_bundle.h"
#include "worker/generate.h"
#include "worker/torch_backend.h"

namespace evosearch {
namespace {

// The bundled video model's sizes: latents [4,8,8,8] (8 KiB), decoded clips [1,8,32,32] (32 KiB).
proto::BundleManifest video_manifest() {
  proto::BundleManifest m;
  for (int64_t d : {4, 8, 8, 8}) m.add_latent_shape(d);
  return m;
}
const std::vector<int64_t> kClip = {1, 8, 32, 32};

proto::JobSpec video_spec(int64_t limit_mb) {
  proto::JobSpec spec;
  spec.set_batch_size(8);
  spec.set_memory_limit_mb(limit_mb);
  proto::SearchSpec* s = spec.mutable_search();
  s->set_method("evosearch");
  for (int step : {0, 4, 8}) s->add_evolution_steps(step);
  for (int k : {8, 4, 4, 4}) s->add_population(k);
  return spec;
}

TEST(DecodeBatch, ATightLimitDecodesFewerSamplesAtOnceInsteadOfRefusing) {
  const auto roomy = estimate_job_memory(video_spec(1024), video_manifest(), 20, kClip, 5);
  ASSERT_TRUE(roomy.ok()) << roomy.status().to_string();
  EXPECT_EQ(roomy->decode_batch, 8);
  const double per_sample = 3 * 32 * 1024.0;  // the clip and one reward's activations
  const double without_pixels = roomy->total() - 8 * per_sample;
  // 3 MiB: over the whole batch's estimate, but room for the pixels of a few samples.
  ASSERT_GT(roomy->total(), 3.0 * 1024 * 1024);
  const auto tight = estimate_job_memory(video_spec(3), video_manifest(), 20, kClip, 5);
  ASSERT_TRUE(tight.ok());
  const int expected = static_cast<int>((3.0 * 1024 * 1024 - without_pixels) / per_sample);
  ASSERT_GE(expected, 1);
  EXPECT_EQ(tight->decode_batch, expected);
  EXPECT_DOUBLE_EQ(tight->batch, roomy->batch - (8 - expected) * per_sample);
  EXPECT_LE(tight->total(), 3.0 * 1024 * 1024);
  EXPECT_TRUE(check_job_memory(video_spec(3), video_manifest(), 20, kClip, 5).ok());
  // Without room for even one sample's pixels the job is still refused.
  const Status refused = check_job_memory(video_spec(2), video_manifest(), 20, kClip, 5);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("memory_limit_mb allows 2.0 MB"), std::string::npos) << refused.message();
}

// Fitness of five candidates' rollouts run as one batch, decoding `decode_batch` at a time.
StatusOr<std::vector<double>> fitness(int decode_batch) {
  testing_support::TinyBundle tiny;
  // Fails on more than two samples at once (a batch of two is what the bundle's dry run uses).
  tiny.decoder = R"(
def forward(self, z: Tensor) -> Tensor:
    assert z.size(0) <= 2, "decoded more than 2 samples at once"
    return torch.sigmoid(z)
)";
  const std::string dir = tiny.write(testing_support::fresh_dir("decode-batch"));
  ASSIGN_OR_RETURN(std::unique_ptr<Bundle> bundle, Bundle::open(dir, at::kCPU));
  BackendOptions options;
  options.sampler = default_sampler(bundle->manifest());
  options.batch_size = 5;
  options.decode_batch = decode_batch;
  options.seed = 3;
  ASSIGN_OR_RETURN(Schedule schedule, make_schedule(bundle->manifest(), options.sampler));
  TorchBackend backend(*bundle, options, schedule);
  RETURN_IF_ERROR(backend.add_prompt(0, "a bag", 1));
  RETURN_IF_ERROR(backend.add_prompt(1, "a dark coat", 2));
  std::vector<proto::PromptRolloutTask> tasks;
  for (uint32_t c = 0; c < 5; ++c) {
    proto::PromptRolloutTask& t = tasks.emplace_back();
    t.set_prompt(c % 2);
    t.mutable_task()->set_candidate(c);
    t.mutable_task()->set_end_step(options.sampler.steps);
    t.mutable_task()->set_score(proto::SCORE_FINAL);
  }
  ASSIGN_OR_RETURN(const std::vector<proto::PromptRolloutResult> results, backend.run(tasks));
  std::vector<double> out;
  for (const auto& r : results) out.push_back(r.result().fitness());
  return out;
}

TEST(DecodeBatch, SubBatchesGiveTheSameFitnessInCandidateOrder) {
  const auto whole = fitness(0);
  ASSERT_FALSE(whole.ok());  // the decoder really sees the whole batch without sub-batches
  EXPECT_NE(whole.status().message().find("decoded more than 2 samples at once"), std::string::npos)
      << whole.status().to_string();
  const auto pairs = fitness(2), singles = fitness(1);
  ASSERT_TRUE(pairs.ok()) << pairs.status().to_string();
  ASSERT_TRUE(singles.ok()) << singles.status().to_string();
  ASSERT_EQ(pairs->size(), 5u);
  EXPECT_EQ(*pairs, *singles);
  // The two prompts' conditions differ, so a sample scored against the wrong prompt would show.
  EXPECT_NE((*pairs)[0], (*pairs)[1]);
}

}  // namespace
}  // namespace evosearch
