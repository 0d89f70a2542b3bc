// Memory that stays bounded at the decode/reward step: a memory limit that cannot hold a whole
// batch's decoded pixels makes the worker decode and score in sub-batches (sized by the memory
// estimate) instead of refusing the job, and sub-batches give the same fitness as whole batches.
// Generation grids cost no decode of their own: they show the pixels scoring decoded.
#include <fstream>
#include <map>

#include <gtest/gtest.h>

#include "common/atomic_file.h"
#include "coordinator/job_runner.h"
#include "coordinator/job_setup.h"
#include "coordinator/job_spec.h"
#include "coordinator/local_executor.h"
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

struct GridRun {
  int64_t samples_decoded = 0;
  int64_t scoring_decodes = 0;  // the searchers' decode_calls: one per rollout
  int64_t grid_candidates = 0;
  int prompts = 0;
  size_t frames_left = 0;
  size_t scored_frames_left = 0;
  std::map<std::string, std::string> grids;  // file -> PNG bytes
};

// An EvoSearch job with generation grids, in this process, on a backend that keeps the frames it
// decodes for scoring (`keep`), or not (grids then decode every candidate again, as they used to).
StatusOr<GridRun> run_with_grids(const std::string& name, bool keep) {
  const std::string dir = testing_support::fresh_dir(name);
  testing_support::TinyBundle().write(dir + "/bundle");
  std::ofstream(dir + "/suite.txt") << "a bag\na dark coat\n";
  std::ofstream(dir + "/job.json") << R"({"bundle": "bundle", "prompts": "suite.txt", "output": "out", "seed": 5,
    "sampler": {"steps": 12}, "batch_size": 4, "generation_grids": true,
    "search": {"method": "evosearch", "evolution_steps": [0, 4, 8], "population": [5, 3, 3, 3], "elites": 1}})";
  ASSIGN_OR_RETURN(const proto::JobSpec spec, load_job_spec(dir + "/job.json"));
  ASSIGN_OR_RETURN(std::unique_ptr<Bundle> bundle, Bundle::open(spec.bundle(), at::kCPU));
  proto::JobSpec backend_spec = spec;
  backend_spec.set_generation_grids(keep);
  ASSIGN_OR_RETURN(std::unique_ptr<TorchBackend> backend, make_torch_backend(backend_spec, *bundle, [] { return false; }));
  ASSIGN_OR_RETURN(const SamplerConfig sampler, sampler_config(spec, bundle->manifest()));
  LocalExecutor executor(*backend);
  RunOptions options;
  options.pixel_shape = bundle->pixel_shape();
  ASSIGN_OR_RETURN(const proto::JobResults results, run_job(spec, bundle->manifest(), sampler.steps, executor, options));
  GridRun run;
  run.samples_decoded = backend->samples_decoded();
  run.frames_left = backend->kept_frames();
  run.scored_frames_left = backend->scored_frames();
  run.prompts = results.prompts_size();
  for (const proto::PromptOutcome& p : results.prompts()) {
    run.scoring_decodes += p.decode_calls();
    for (const proto::GenerationRecord& g : p.generations()) {
      if (g.grid().empty()) continue;
      run.grid_candidates += g.fitness_size();
      ASSIGN_OR_RETURN(run.grids[g.grid()], read_file(spec.output() + "/" + g.grid()));
    }
  }
  return run;
}

TEST(DecodeBatch, GridsShowThePixelsScoringDecodedWithoutDecodingAgain) {
  const auto kept = run_with_grids("grids-kept", true);
  ASSERT_TRUE(kept.ok()) << kept.status().to_string();
  ASSERT_EQ(kept->prompts, 2);
  EXPECT_EQ(kept->grids.size(), 2u * 4);  // every generation of EvoSearch ends at T
  EXPECT_EQ(kept->grid_candidates, 2 * (5 + 3 + 3 + 3));
  // One decode per rollout (scoring), plus one per answer, whose picture comes from the decode
  // that scored it with every reward: none for the grids.
  EXPECT_EQ(kept->scoring_decodes, 2 * (5 + 3 + 3 + 3));
  EXPECT_EQ(kept->samples_decoded, kept->scoring_decodes + kept->prompts);
  EXPECT_EQ(kept->frames_left, 0u);  // every kept frame went into a grid
  EXPECT_EQ(kept->scored_frames_left, 0u);  // the answers' frames went into their files
  // Decoding each candidate again, one at a time (how grids were made before), gives the same bytes.
  const auto again = run_with_grids("grids-decoded-again", false);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(again->samples_decoded, kept->samples_decoded + kept->grid_candidates);
  ASSERT_EQ(again->grids.size(), kept->grids.size());
  for (const auto& [file, bytes] : kept->grids) {
    ASSERT_TRUE(again->grids.count(file)) << file;
    EXPECT_FALSE(bytes.empty());
    EXPECT_TRUE(again->grids.at(file) == bytes) << file << " differs";
  }
}

}  // namespace
}  // namespace evosearch
