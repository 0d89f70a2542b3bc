// The memory estimate that refuses jobs the machine cannot hold: its parts grow with the fields
// that size them, and the refusal names the field to change.
#include <gtest/gtest.h>

#include "common/system_memory.h"
#include "coordinator/memory_estimate.h"

namespace evosearch {
namespace {

proto::BundleManifest manifest(std::vector<int64_t> latent) {
  proto::BundleManifest m;
  for (int64_t d : latent) m.add_latent_shape(d);
  return m;
}

proto::JobSpec evosearch_spec(int k_init) {
  proto::JobSpec spec;
  spec.set_batch_size(8);
  proto::SearchSpec* s = spec.mutable_search();
  s->set_method("evosearch");
  for (int step : {0, 4, 8}) s->add_evolution_steps(step);
  for (int k : {k_init, 4, 4, 4}) s->add_population(k);
  return spec;
}

TEST(MemoryEstimate, StatesFollowTheScheduleThePromptsAndTheLatent) {
  const proto::BundleManifest m = manifest({4, 8, 8});  // 1 KiB per latent
  auto small = estimate_job_memory(evosearch_spec(8), m, 20, {}, 1);
  ASSERT_TRUE(small.ok()) << small.status().to_string();
  // Generation g keeps its candidates at every later evolution step and at T: 8*4 + 4*3 + 4*2 + 4*1.
  EXPECT_DOUBLE_EQ(small->states, (8 * 4 + 4 * 3 + 4 * 2 + 4 * 1) * 1024.0);
  auto more_prompts = estimate_job_memory(evosearch_spec(8), m, 20, {}, 10);
  EXPECT_DOUBLE_EQ(more_prompts->states, 10 * small->states);
  EXPECT_DOUBLE_EQ(more_prompts->batch, small->batch);  // the batch does not grow with prompts
  auto shared = estimate_job_memory(evosearch_spec(8), m, 20, {}, 10, 5);
  EXPECT_DOUBLE_EQ(shared->states, 2 * small->states);  // 5 workers hold a fifth each
  proto::JobSpec roomy = evosearch_spec(8);
  roomy.set_memory_limit_mb(1024 * 1024);  // a whole batch's frames fit: no sub-batches
  auto video = estimate_job_memory(roomy, manifest({16, 21, 60, 104}), 20, {3, 81, 480, 832}, 1);
  EXPECT_GT(video->batch, 8 * 3 * 81 * 480 * 832 * 4.0);  // decoded frames of a whole batch
}

TEST(MemoryEstimate, AHugePopulationIsRefusedNamingTheField) {
  const Status s = check_job_memory(evosearch_spec(10000000), manifest({4, 8, 8}), 20, {}, 8);
  if (available_memory_bytes() > (int64_t{1} << 40)) GTEST_SKIP() << "this machine holds more than 1 TiB";
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("search.population"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("prompts_in_flight"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("memory_limit_mb"), std::string::npos) << s.message();
  EXPECT_TRUE(check_job_memory(evosearch_spec(8), manifest({4, 8, 8}), 20, {}, 8).ok());
}

TEST(MemoryEstimate, AnExplicitLimitIsObeyedBothWays) {
  proto::JobSpec spec = evosearch_spec(8);
  const proto::BundleManifest wan = manifest({16, 21, 60, 104});  // 8 MiB per latent
  spec.set_memory_limit_mb(100);
  const Status refused = check_job_memory(spec, wan, 50, {}, 8);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("memory_limit_mb allows 100.0 MB"), std::string::npos) << refused.message();
  spec.set_memory_limit_mb(64 * 1024);
  EXPECT_TRUE(check_job_memory(spec, wan, 50, {}, 8).ok());
}

TEST(MemoryEstimate, BaselinesAreSizedByTheirOwnFields) {
  proto::JobSpec spec;
  spec.set_batch_size(8);
  spec.mutable_search()->set_method("best-of-n");
  spec.mutable_search()->set_n(1000);
  auto bon = estimate_job_memory(spec, manifest({4, 8, 8}), 10, {}, 1);
  EXPECT_DOUBLE_EQ(bon->states, 1000 * 1024.0);
  spec.mutable_search()->set_method("particles");
  spec.mutable_search()->set_particles(10);
  auto particles = estimate_job_memory(spec, manifest({4, 8, 8}), 10, {}, 1);
  EXPECT_DOUBLE_EQ(particles->states, 3 * 10 * 1024.0);
}

TEST(MemoryEstimate, AHalfPrecisionModelAddsItsCopiesAndHalvesItsActivations) {
  proto::JobSpec spec = evosearch_spec(8);
  spec.set_memory_limit_mb(1024 * 1024);           // every sample decoded at once
  const proto::BundleManifest m = manifest({4, 8, 8});  // 256 numbers, 1 KiB in float32
  auto fp32 = estimate_job_memory(spec, m, 20, {}, 1);
  ASSERT_TRUE(fp32.ok()) << fp32.status().to_string();
  // 8 candidates: 8 float32 latents each, then pixels + 2 images of reward activations.
  EXPECT_DOUBLE_EQ(fp32->batch, 8 * (8 * 1024.0) + 8 * (3 * 1024.0));
  spec.set_model_dtype("bf16");
  auto bf16 = estimate_job_memory(spec, m, 20, {}, 1);
  // Also the CFG pair's inputs and outputs in bf16 (4 x 512 bytes); activations in bf16.
  EXPECT_DOUBLE_EQ(bf16->batch, 8 * (8 * 1024.0 + 4 * 512.0) + 8 * (1024.0 + 2 * 512.0));
  EXPECT_DOUBLE_EQ(bf16->states, fp32->states);  // states stay float32
  spec.clear_model_dtype();
  proto::BundleManifest half = m;
  half.set_dtype("bf16");  // the manifest's dtype when the spec sets none
  EXPECT_DOUBLE_EQ(estimate_job_memory(spec, half, 20, {}, 1)->batch, bf16->batch);
}

TEST(MemoryEstimate, ConditionsAreCountedPerPromptAndPerBatch) {
  proto::BundleManifest wan = manifest({16, 21, 60, 104});
  proto::ConditionPart* tokens = wan.add_conditions();  // Wan 2.1: 512 tokens of width 4096, and a mask
  tokens->set_name("tokens");
  for (int64_t d : {512, 4096}) tokens->add_shape(d);
  wan.set_condition_dim(512 * 4096 + 512);
  const double condition = (512 * 4096 + 512) * 4.0;  // about 8 MB per prompt
  auto e = estimate_job_memory(evosearch_spec(8), wan, 50, {}, 10);
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  // 10 prompts and the null prompt kept; a batch of 8 stacks its conditions and their CFG pair.
  EXPECT_DOUBLE_EQ(e->conditions, 11 * condition + 3 * 8 * condition);
  EXPECT_DOUBLE_EQ(e->total(), e->states + e->batch + e->bookkeeping + e->conditions);
  EXPECT_NE(e->describe().find("conditions 280.1 MB"), std::string::npos) << e->describe();
}

TEST(SystemMemory, ReportsSomethingAndFormatsSizes) {
  EXPECT_GT(available_memory_bytes(), 0);
  EXPECT_EQ(human_bytes(512), "512 bytes");
  EXPECT_EQ(human_bytes(1536), "1.5 KB");
  EXPECT_EQ(human_bytes(3.0 * 1024 * 1024 * 1024), "3.0 GB");
}

}  // namespace
}  // namespace evosearch
