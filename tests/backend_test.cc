// Searchers driving the real backend on a tiny TorchScript bundle: batching does not change any
// decision or score, NFE is exact, states are freed when no longer needed, and the compute side
// belongs to one thread.
#include <functional>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "coordinator/search/evo_searcher.h"
#include "coordinator/search/particle_searcher.h"
#include "common/state_key.h"
#include "tiny_bundle.h"
#include "worker/generate.h"
#include "worker/torch_backend.h"

namespace evosearch {
namespace {

struct Run {
  proto::BestSample best;
  proto::Accounting accounting;
  std::vector<double> fitness;
  size_t resident_after = 0;
};

// A TorchBackend on the tiny bundle, written to a fresh folder: the bundle's default sampler,
// then `tweak` applied to the options. The bundle outlives the backend, which holds it.
struct TinyBackend {
  std::unique_ptr<Bundle> bundle;
  std::unique_ptr<TorchBackend> backend;
  int steps = 0;  // T
};

StatusOr<TinyBackend> tiny_backend(const std::string& name, const std::function<void(BackendOptions&)>& tweak = {}) {
  const std::string dir = testing_support::TinyBundle().write(testing_support::fresh_dir(name));
  TinyBackend out;
  ASSIGN_OR_RETURN(out.bundle, Bundle::open(dir, at::kCPU));
  BackendOptions options;
  options.sampler = default_sampler(out.bundle->manifest());
  if (tweak) tweak(options);
  ASSIGN_OR_RETURN(Schedule schedule, make_schedule(out.bundle->manifest(), options.sampler));
  out.steps = options.sampler.steps;
  out.backend = std::make_unique<TorchBackend>(*out.bundle, options, schedule);
  return out;
}

StatusOr<Run> search(Searcher& a, Searcher& b, int batch_size) {
  ASSIGN_OR_RETURN(TinyBackend tiny, tiny_backend("executor", [&](BackendOptions& options) {
                     options.sampler.steps = 20;
                     options.guidance_scale = 2.0;
                     options.batch_size = batch_size;
                     options.seed = 99;
                   }));
  TorchBackend& backend = *tiny.backend;
  RETURN_IF_ERROR(backend.add_prompt(0, "a bag", prompt_key("a bag")));
  RETURN_IF_ERROR(backend.add_prompt(1, "a dark coat", prompt_key("a dark coat")));
  Run run;
  std::vector<Searcher*> searchers{&a, &b};
  while (!a.done() || !b.done()) {
    std::vector<proto::PromptRolloutTask> tasks;
    for (uint32_t p = 0; p < 2; ++p) {
      if (searchers[p]->done()) continue;
      for (auto& t : searchers[p]->next_generation()) {
        proto::PromptRolloutTask& task = tasks.emplace_back();
        task.set_prompt(p);
        *task.mutable_task() = t;
      }
    }
    ASSIGN_OR_RETURN(std::vector<proto::PromptRolloutResult> results, backend.run(tasks));
    std::vector<std::vector<proto::RolloutResult>> per_prompt(2);
    for (const auto& r : results) {
      per_prompt[r.prompt()].push_back(r.result());
      run.fitness.push_back(r.result().fitness());
    }
    for (uint32_t p = 0; p < 2; ++p) {
      if (per_prompt[p].empty()) continue;
      RETURN_IF_ERROR(searchers[p]->on_results(per_prompt[p]));
      backend.release_all_but(p, searchers[p]->live_states());
    }
  }
  run.best = a.best();
  run.accounting = a.accounting();
  run.resident_after = backend.resident_states();
  return run;
}

EvoSearchConfig small_schedule() {
  EvoSearchConfig c;
  c.steps = 20;
  c.evolution_steps = {0, 8, 14};
  c.population = {6, 4, 4, 3};
  c.elites = 1;
  return c;
}

TEST(Backend, EvoSearchResultsDoNotDependOnBatching) {
  EvoSearcher a1(small_schedule(), {1, 10}), b1(small_schedule(), {1, 11});
  EvoSearcher a2(small_schedule(), {1, 10}), b2(small_schedule(), {1, 11});
  auto one = search(a1, b1, 1);
  auto many = search(a2, b2, 7);
  ASSERT_TRUE(one.ok()) << one.status().to_string();
  ASSERT_TRUE(many.ok()) << many.status().to_string();
  ASSERT_EQ(one->fitness.size(), many->fitness.size());
  for (size_t i = 0; i < one->fitness.size(); ++i) EXPECT_NEAR(one->fitness[i], many->fitness[i], 1e-5) << i;
  EXPECT_EQ(one->best.state().generation(), many->best.state().generation());
  EXPECT_EQ(one->best.state().candidate(), many->best.state().candidate());
  EXPECT_EQ(one->accounting.nfe(), evosearch_nfe(small_schedule()));
  EXPECT_EQ(one->resident_after, 2u);  // each prompt keeps only its answer
}

TEST(Backend, ParticlesReuseTheScoredX0AndCostKTimesT) {
  ParticleConfig c;
  c.steps = 20;
  c.particles = 5;
  c.interval = 6;
  ParticleSearcher a(c, {2, 1}), b(c, {2, 2});
  auto run = search(a, b, 4);
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  EXPECT_EQ(run->accounting.nfe(), 5 * 20);
  EXPECT_TRUE(run->best.found());
}

TEST(Backend, TheComputeSideBelongsToTheThreadThatUsedItFirst) {
  auto tiny = tiny_backend("backend-thread");
  ASSERT_TRUE(tiny.ok()) << tiny.status().to_string();
  TorchBackend& backend = *tiny->backend;
  ASSERT_TRUE(backend.add_prompt(0, "a bag", 1).ok());
  Status from_other_thread;
  std::thread([&] { from_other_thread = backend.add_prompt(1, "a coat", 2); }).join();
  EXPECT_EQ(from_other_thread.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(from_other_thread.message().find("second thread"), std::string::npos) << from_other_thread.message();
  // The resident-state side is for any thread.
  std::thread([&] { backend.release_prompt(0); }).join();
  EXPECT_TRUE(backend.add_prompt(1, "a coat", 2).ok());
}

// One generation of `candidates` tasks of prompt 0 from fresh noise to `end`, all in one batch.
std::vector<proto::PromptRolloutTask> generation(uint32_t g, uint32_t candidates, int end, proto::ScoreTarget score) {
  std::vector<proto::PromptRolloutTask> tasks;
  for (uint32_t c = 0; c < candidates; ++c) {
    proto::PromptRolloutTask& t = tasks.emplace_back();
    t.mutable_task()->set_generation(g);
    t.mutable_task()->set_candidate(c);
    t.mutable_task()->set_end_step(end);
    t.mutable_task()->add_keep_steps(end);
    t.mutable_task()->set_score(score);
  }
  return tasks;
}

// With keep_final_frames, the frames of final samples come from the decode that scored them:
// taking them decodes nothing, gives the bytes a decode of the state gives, and only the latest
// generation's are kept.
TEST(Backend, KeptFinalFramesAreTheScoringDecodesBytes) {
  auto tiny = tiny_backend("backend-frames", [](BackendOptions& options) {
    options.batch_size = 5;
    options.decode_batch = 2;  // frames gathered across sub-batches
    options.keep_final_frames = true;
  });
  ASSERT_TRUE(tiny.ok()) << tiny.status().to_string();
  TorchBackend& backend = *tiny->backend;
  ASSERT_TRUE(backend.add_prompt(0, "a bag", 1).ok());
  const int T = tiny->steps;
  ASSERT_TRUE(backend.run(generation(0, 5, T, proto::SCORE_FINAL)).ok());
  EXPECT_EQ(backend.samples_decoded(), 5);
  EXPECT_EQ(backend.kept_frames(), 5u);
  ASSERT_TRUE(backend.run(generation(1, 4, T, proto::SCORE_FINAL)).ok());
  EXPECT_EQ(backend.kept_frames(), 4u);  // generation 0's were dropped
  // Segments that end before T, or score an x0 estimate, keep nothing.
  ASSERT_TRUE(backend.run(generation(2, 3, T / 2, proto::SCORE_X0_PREDICTION)).ok());
  EXPECT_EQ(backend.kept_frames(), 4u);
  const int64_t decoded = backend.samples_decoded();
  EXPECT_EQ(decoded, 5 + 4 + 3);

  std::vector<proto::StateRef> refs;
  for (uint32_t c : {3u, 0u, 2u}) refs.push_back(state_ref(1, c, T));
  auto taken = backend.take_frames(0, refs);
  ASSERT_TRUE(taken.ok()) << taken.status().to_string();
  EXPECT_EQ(backend.samples_decoded(), decoded);  // no decode
  EXPECT_EQ(backend.kept_frames(), 1u);
  ASSERT_EQ(taken->size(), 3u);
  for (size_t i = 0; i < refs.size(); ++i) {
    auto decoded_again = backend.decode(0, refs[i]);
    ASSERT_TRUE(decoded_again.ok()) << decoded_again.status().to_string();
    ASSERT_EQ((*taken)[i].size(), decoded_again->size());
    for (size_t f = 0; f < decoded_again->size(); ++f) {
      EXPECT_EQ((*taken)[i][f].width, (*decoded_again)[f].width);
      EXPECT_EQ((*taken)[i][f].channels, (*decoded_again)[f].channels);
      EXPECT_EQ((*taken)[i][f].pixels, (*decoded_again)[f].pixels) << "candidate " << refs[i].candidate();
    }
  }
  // Taken frames are gone: asking again decodes the state (same bytes).
  const int64_t before_again = backend.samples_decoded();
  auto retaken = backend.take_frames(0, {refs[0]});
  ASSERT_TRUE(retaken.ok());
  EXPECT_EQ(backend.samples_decoded(), before_again + 1);
  EXPECT_EQ((*retaken)[0][0].pixels, (*taken)[0][0].pixels);
  // Releasing the prompt forgets what was left.
  std::thread([&] { backend.release_prompt(0); }).join();
  EXPECT_EQ(backend.kept_frames(), 0u);
}

// Scoring a state (a prompt's answer) keeps the frames it decoded for the answer's decode, which
// then decodes nothing and gives a fresh decode's bytes; once taken, or with the prompt released,
// they are gone. At video size each saved decode is seconds of VAE per prompt.
TEST(Backend, TheAnswerIsDecodedOnceForItsScoresAndItsFile) {
  auto tiny = tiny_backend("backend-answer", [](BackendOptions& options) { options.batch_size = 3; });
  ASSERT_TRUE(tiny.ok()) << tiny.status().to_string();
  TorchBackend& backend = *tiny->backend;
  ASSERT_TRUE(backend.add_prompt(0, "a bag", 1).ok());
  const int T = tiny->steps;
  ASSERT_TRUE(backend.run(generation(0, 3, T, proto::SCORE_FINAL)).ok());
  const proto::StateRef answer = state_ref(0, 1, T);
  const int64_t before = backend.samples_decoded();
  auto scores = backend.score(0, answer);
  ASSERT_TRUE(scores.ok()) << scores.status().to_string();
  EXPECT_EQ(scores->size(), static_cast<size_t>(tiny->bundle->manifest().rewards_size()));
  EXPECT_EQ(backend.samples_decoded(), before + 1);
  EXPECT_EQ(backend.scored_frames(), 1u);
  auto written = backend.decode(0, answer);
  ASSERT_TRUE(written.ok()) << written.status().to_string();
  EXPECT_EQ(backend.samples_decoded(), before + 1);  // no second decode
  EXPECT_EQ(backend.scored_frames(), 0u);
  auto fresh = backend.decode(0, answer);  // taken: this one decodes
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(backend.samples_decoded(), before + 2);
  ASSERT_EQ(written->size(), fresh->size());
  for (size_t f = 0; f < fresh->size(); ++f) EXPECT_EQ((*written)[f].pixels, (*fresh)[f].pixels) << "frame " << f;
  // score_pixels scores pixels already decoded: the same scores, no decode, nothing kept.
  auto pixels = backend.decode_pixels(0, answer);
  ASSERT_TRUE(pixels.ok());
  const int64_t decoded = backend.samples_decoded();
  auto again = backend.score_pixels(0, *pixels);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(*again, *scores);
  EXPECT_EQ(backend.samples_decoded(), decoded);
  EXPECT_EQ(backend.scored_frames(), 0u);
  // Scored but never written (a lost lease, say): releasing the prompt forgets the frames.
  ASSERT_TRUE(backend.score(0, state_ref(0, 2, T)).ok());
  EXPECT_EQ(backend.scored_frames(), 1u);
  std::thread([&] { backend.release_prompt(0); }).join();
  EXPECT_EQ(backend.scored_frames(), 0u);
}

}  // namespace
}  // namespace evosearch
