// Module outputs are checked for NaN on the device and read by the host once per batch, with the
// batch's scores: the count of host reads (worker/host_read.h) does not grow with the step count.
// A NaN is still named with the module and the sampler step that made it.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "tiny_bundle.h"
#include "worker/generate.h"
#include "worker/host_read.h"
#include "worker/torch_backend.h"

namespace evosearch {
namespace {

using testing_support::fresh_dir;
using testing_support::TinyBundle;

struct BatchRun {
  int64_t host_reads = 0;  // during backend.run() of the whole batch
  Status status;
  std::vector<double> fitness;
};

// Runs `candidates` rollouts of `steps` steps as one batch (decode_batch samples decoded at once)
// on `bundle_dir`, counting host reads.
BatchRun run_batch(const std::string& bundle_dir, int steps, int candidates, int decode_batch,
                   proto::ScoreTarget score = proto::SCORE_FINAL) {
  BatchRun out;
  auto bundle = Bundle::open(bundle_dir, at::kCPU);
  if (!bundle.ok()) {
    out.status = bundle.status();
    return out;
  }
  BackendOptions options;
  options.sampler = default_sampler((*bundle)->manifest());
  options.sampler.steps = steps;
  options.guidance_scale = 2.0;
  options.batch_size = candidates;
  options.decode_batch = decode_batch;
  options.seed = 5;
  auto schedule = make_schedule((*bundle)->manifest(), options.sampler);
  if (!schedule.ok()) {
    out.status = schedule.status();
    return out;
  }
  TorchBackend backend(**bundle, options, *schedule);
  out.status = backend.add_prompt(0, "a long prompt", 7);
  if (!out.status.ok()) return out;
  std::vector<proto::PromptRolloutTask> tasks;
  for (int c = 0; c < candidates; ++c) {
    proto::PromptRolloutTask& t = tasks.emplace_back();
    t.mutable_task()->set_candidate(static_cast<uint32_t>(c));
    t.mutable_task()->set_end_step(steps);
    t.mutable_task()->add_keep_steps(steps);
    t.mutable_task()->set_score(score);
  }
  const int64_t before = host_reads();
  auto results = backend.run(tasks);
  out.host_reads = host_reads() - before;
  out.status = results.status();
  if (results.ok()) {
    for (const auto& r : *results) out.fitness.push_back(r.result().fitness());
  }
  return out;
}

TEST(HostSync, OneHostReadPerBatchWhateverTheStepCount) {
  const std::string dir = TinyBundle().write(fresh_dir("sync-count"));
  for (const int decode_batch : {0, 1}) {
    SCOPED_TRACE("decode_batch " + std::to_string(decode_batch));
    const BatchRun short_run = run_batch(dir, 3, 4, decode_batch);
    const BatchRun long_run = run_batch(dir, 24, 4, decode_batch);
    ASSERT_TRUE(short_run.status.ok()) << short_run.status.to_string();
    ASSERT_TRUE(long_run.status.ok()) << long_run.status.to_string();
    // 3 and 24 denoiser calls, 1 or 4 decoder and reward calls: one read, the scores with the checks.
    EXPECT_EQ(short_run.host_reads, 1);
    EXPECT_EQ(long_run.host_reads, 1);
    EXPECT_EQ(long_run.fitness.size(), 4u);
  }
  const BatchRun x0 = run_batch(dir, 12, 3, 0, proto::SCORE_X0_PREDICTION);
  ASSERT_TRUE(x0.status.ok()) << x0.status.to_string();
  EXPECT_EQ(x0.host_reads, 1);
}

TEST(HostSync, ChecksReadOnceGiveTheSameScoresAsBefore) {
  // Scores come back through the same read as the checks; decode_batch does not change them.
  const std::string dir = TinyBundle().write(fresh_dir("sync-scores"));
  const BatchRun whole = run_batch(dir, 6, 5, 0), chunked = run_batch(dir, 6, 5, 2);
  ASSERT_TRUE(whole.status.ok() && chunked.status.ok());
  ASSERT_EQ(whole.fitness.size(), 5u);
  for (size_t i = 0; i < whole.fitness.size(); ++i) EXPECT_NEAR(whole.fitness[i], chunked.fitness[i], 1e-6) << i;
}

// The tiny flow schedule with 8 steps has model time t = 1000 * (1 - i/8) at step i; this denoiser
// turns NaN below t = 400, first at step 5. The bundle's dry run (t = 1000 and 500) passes.
TEST(HostSync, ADenoiserNaNIsNamedWithTheStepThatMadeIt) {
  TinyBundle b;
  b.denoiser = R"(
def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
    return torch.where(t.reshape(-1, 1, 1, 1) < 400.0, x * float("nan"), 0.5 * x)
)";
  const std::string dir = b.write(fresh_dir("sync-nan-step"));
  const BatchRun run = run_batch(dir, 8, 3, 0);
  ASSERT_FALSE(run.status.ok());
  const std::string& m = run.status.message();
  EXPECT_NE(m.find("denoiser.pt"), std::string::npos) << m;
  EXPECT_NE(m.find("denoiser output at sampler step 5 contains NaN"), std::string::npos) << m;
  EXPECT_EQ(run.host_reads, 1);  // found at the batch's one read, not at the step
  EXPECT_EQ(run.status.code(), StatusCode::kModelError);  // charged to the batch's prompts (coordinator/job_loop.h)
}

// The decoder and the reward see the NaN the denoiser made too; the denoiser is named.
TEST(HostSync, TheFirstModuleToFailIsNamedEvenWhenALaterOneRaises) {
  TinyBundle b;
  b.denoiser = R"(
def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
    return torch.where(t.reshape(-1, 1, 1, 1) < 400.0, x * float("nan"), 0.5 * x)
)";
  b.decoder = R"(
def forward(self, z: Tensor) -> Tensor:
    assert bool(torch.isfinite(z).all()), "the decoder refuses NaN latents"
    return torch.sigmoid(z)
)";
  const std::string dir = b.write(fresh_dir("sync-nan-first"));
  const BatchRun run = run_batch(dir, 8, 2, 0);
  ASSERT_FALSE(run.status.ok());
  EXPECT_NE(run.status.message().find("denoiser output at sampler step 5"), std::string::npos) << run.status.message();
}

TEST(HostSync, DecoderRangeIsCheckedAtTheRead) {
  TinyBundle b;
  // In range for the dry run's noise; latents far out (as no sampler makes them) decode out of range.
  b.decoder = R"(
def forward(self, z: Tensor) -> Tensor:
    return torch.sigmoid(z) * (1.0 + (z.abs() > 100.0).to(z.dtype))
)";
  auto bundle = Bundle::open(b.write(fresh_dir("sync-range")), at::kCPU);
  ASSERT_TRUE(bundle.ok()) << bundle.status().to_string();
  FiniteGuard guard;
  const int64_t before = host_reads();
  auto pixels = (*bundle)->decode(at::full({2, 1, 4, 4}, 1000.0), &guard);
  ASSERT_TRUE(pixels.ok());  // shape and dtype checked at the call; values not yet
  EXPECT_EQ(host_reads(), before);
  const Status s = guard.check();
  EXPECT_NE(s.message().find("decoder.pt: decoder output has values in [2.000000, 2.000000], expected pixels in [0, 1]"),
            std::string::npos) << s.message();
  // Without a guard the same call is checked at once.
  EXPECT_FALSE((*bundle)->decode(at::full({2, 1, 4, 4}, 1000.0)).ok());
}

TEST(FiniteGuard, ReadsValuesAndChecksInOneTransfer) {
  FiniteGuard guard;
  guard.record(at::ones({3}), "a: ", "first", false);
  guard.record(at::full({2}, 0.5), "b: ", "second", true);
  const int64_t before = host_reads();
  auto values = guard.read(at::tensor({1.5f, -2.0f}));
  EXPECT_EQ(host_reads() - before, 1);
  ASSERT_TRUE(values.ok()) << values.status().to_string();
  EXPECT_EQ(values->scalar_type(), at::kDouble);
  EXPECT_EQ(values->sizes(), (std::vector<int64_t>{2}));
  EXPECT_EQ(values->data_ptr<double>()[1], -2.0);
  EXPECT_EQ(guard.pending(), 0u);
  EXPECT_TRUE(guard.check().ok());
  EXPECT_EQ(host_reads() - before, 1);  // nothing pending: no read

  guard.record(at::ones({2}), "a: ", "fine", false);
  guard.record(at::tensor({0.0f, std::numeric_limits<float>::infinity()}), "b: ", "second", false);
  guard.record(at::tensor({NAN}), "c: ", "third", false);
  const Status s = guard.check();
  EXPECT_EQ(s.message(), "b: second contains NaN or infinite values");
  EXPECT_EQ(guard.pending(), 0u);

  guard.record(at::tensor({0.0f, 1.5f}), "d: ", "pixels", true);
  EXPECT_NE(guard.check().message().find("d: pixels has values in [0.000000, 1.500000], expected pixels in [0, 1]"),
            std::string::npos);
  guard.record(at::empty({0, 3}), "e: ", "nothing", true);  // no values: nothing out of range
  EXPECT_TRUE(guard.check().ok());
}

}  // namespace
}  // namespace evosearch
