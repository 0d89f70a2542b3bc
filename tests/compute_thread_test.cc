// A worker's compute thread: commands run in order, and nothing thrown below it - LibTorch's
// c10::Error included - escapes as an exception: it becomes an error report for the coordinator.
#include <atomic>
#include <chrono>
#include <thread>

#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include "worker/compute_thread.h"

namespace evosearch {
namespace {

// A compute side that answers run() with one result per task, or throws what it is told to.
class ScriptedCompute : public RolloutCompute {
 public:
  enum class Throw { kNothing, kTorchCheck, kStd };
  Throw throw_on_run = Throw::kNothing;

  Status add_prompt(uint32_t, const std::string&, uint64_t) override { return Status::Ok(); }
  StatusOr<std::vector<proto::PromptRolloutResult>> run(const std::vector<proto::PromptRolloutTask>& tasks) override {
    if (throw_on_run == Throw::kTorchCheck) TORCH_CHECK(false, "Expected all tensors to be on the same device");
    if (throw_on_run == Throw::kStd) throw std::out_of_range("map::at");
    std::vector<proto::PromptRolloutResult> out;
    for (const auto& t : tasks) {
      proto::PromptRolloutResult& r = out.emplace_back();
      r.set_prompt(t.prompt());
      r.mutable_result()->set_candidate(t.task().candidate());
    }
    return out;
  }
  StatusOr<std::vector<Image>> decode(uint32_t, const proto::StateRef&) override {
    return std::vector<Image>{Image(2, 2, 1, 10), Image(2, 2, 1, 20)};  // a two-frame video
  }
  StatusOr<std::vector<double>> score(uint32_t, const proto::StateRef&) override { return std::vector<double>{1.5}; }
};

proto::WorkerCommand run_command(uint64_t batch, uint32_t candidates) {
  proto::WorkerCommand c;
  c.mutable_run()->set_batch(batch);
  for (uint32_t i = 0; i < candidates; ++i) {
    proto::PromptRolloutTask* t = c.mutable_run()->add_tasks();
    t->set_prompt(3);
    t->mutable_task()->set_candidate(i);
  }
  return c;
}

TEST(ComputeThread, LibTorchErrorsBecomeErrorReports) {
  ScriptedCompute compute;
  compute.throw_on_run = ScriptedCompute::Throw::kTorchCheck;
  const std::optional<proto::WorkerReport> torch_error = ComputeThread::execute(compute, run_command(1, 2));
  ASSERT_TRUE(torch_error.has_value());
  ASSERT_TRUE(torch_error->has_error());
  EXPECT_NE(torch_error->error().message().find("same device"), std::string::npos) << torch_error->error().message();
  compute.throw_on_run = ScriptedCompute::Throw::kStd;
  const std::optional<proto::WorkerReport> std_error = ComputeThread::execute(compute, run_command(2, 2));
  ASSERT_TRUE(std_error.has_value() && std_error->has_error());
  EXPECT_NE(std_error->error().message().find("map::at"), std::string::npos);
}

TEST(ComputeThread, RunsCommandsInOrderAndReportsEach) {
  ScriptedCompute compute;
  std::vector<proto::WorkerReport> reports;
  {
    ComputeThread thread(compute);
    proto::WorkerCommand add;
    add.mutable_add_prompt()->set_prompt(3);
    add.mutable_add_prompt()->set_request(9);
    thread.push(add);
    for (uint64_t b = 1; b <= 5; ++b) thread.push(run_command(b, static_cast<uint32_t>(b)));
    proto::WorkerCommand sample;
    sample.mutable_render()->set_request(77);
    sample.mutable_render()->set_score(true);
    sample.mutable_render()->set_decode(true);
    thread.push(sample);
    thread.stop();  // drains the queue
    reports = thread.take_reports();
  }
  ASSERT_EQ(reports.size(), 7u);
  ASSERT_TRUE(reports[0].has_added());
  EXPECT_EQ(reports[0].added().request(), 9u);
  for (uint64_t b = 1; b <= 5; ++b) {
    ASSERT_TRUE(reports[b].has_done());
    EXPECT_EQ(reports[b].done().batch(), b);
    EXPECT_EQ(reports[b].done().results_size(), static_cast<int>(b));
  }
  ASSERT_TRUE(reports[6].has_render());
  EXPECT_EQ(reports[6].render().request(), 77u);
  EXPECT_EQ(reports[6].render().scores(0), 1.5);
  EXPECT_EQ(reports[6].render().frames(), 2);
  EXPECT_EQ(reports[6].render().pixels(), std::string(4, '\x0a') + std::string(4, '\x14'));
}

// An error report says what failed (the batch, the request) with its code and prompts, so the
// coordinator charges a prompt's own error to it as in process (coordinator/distributed_executor.h).
TEST(ComputeThread, ErrorReportsCarryTheCodeTheBatchAndItsPrompts) {
  class FailingCompute : public ScriptedCompute {
   public:
    Status add_prompt(uint32_t, const std::string&, uint64_t) override { return ModelError("the encoder raised"); }
    StatusOr<std::vector<proto::PromptRolloutResult>> run(const std::vector<proto::PromptRolloutTask>&) override {
      return ModelError("reward 'r' contains NaN or infinite values");
    }
  } compute;
  proto::WorkerCommand batch = run_command(12, 3);
  batch.mutable_run()->mutable_tasks(1)->set_prompt(4);
  const std::optional<proto::WorkerReport> failed = ComputeThread::execute(compute, batch);
  ASSERT_TRUE(failed.has_value() && failed->has_error());
  EXPECT_EQ(failed->error().code(), static_cast<int32_t>(StatusCode::kModelError));
  EXPECT_EQ(failed->error().message(), "reward 'r' contains NaN or infinite values");
  EXPECT_EQ(failed->error().batch(), 12u);
  EXPECT_EQ(failed->error().request(), 0u);
  ASSERT_EQ(failed->error().prompts_size(), 2);  // each prompt of the batch once
  EXPECT_EQ(failed->error().prompts(1), 4u);

  proto::WorkerCommand add;
  add.mutable_add_prompt()->set_prompt(5);
  add.mutable_add_prompt()->set_request(31);
  const std::optional<proto::WorkerReport> encoder = ComputeThread::execute(compute, add);
  ASSERT_TRUE(encoder.has_value() && encoder->has_error());
  EXPECT_EQ(encoder->error().code(), static_cast<int32_t>(StatusCode::kModelError));
  EXPECT_EQ(encoder->error().message(), "the encoder raised");
  EXPECT_EQ(encoder->error().request(), 31u);
  EXPECT_EQ(encoder->error().batch(), 0u);
  ASSERT_EQ(encoder->error().prompts_size(), 1);
  EXPECT_EQ(encoder->error().prompts(0), 5u);
}

// A generation grid's frames: one command for several states, one reply with each state's frames
// in the order asked.
TEST(ComputeThread, TakeFramesAnswersEveryStateInOneReply) {
  class KeptCompute : public ScriptedCompute {
   public:
    StatusOr<std::vector<std::vector<Image>>> take_frames(uint32_t prompt, const std::vector<proto::StateRef>& refs) override {
      EXPECT_EQ(prompt, 4u);
      std::vector<std::vector<Image>> out;
      for (const proto::StateRef& r : refs) out.push_back({Image(1, 2, 3, static_cast<uint8_t>(r.candidate()))});
      return out;
    }
  } compute;
  proto::WorkerCommand take;
  take.mutable_take_frames()->set_request(9);
  take.mutable_take_frames()->set_prompt(4);
  for (uint32_t c : {5u, 2u, 7u}) take.mutable_take_frames()->add_refs()->set_candidate(c);
  const std::optional<proto::WorkerReport> report = ComputeThread::execute(compute, take);
  ASSERT_TRUE(report.has_value() && report->has_frames()) << (report ? report->DebugString() : "");
  EXPECT_EQ(report->frames().request(), 9u);
  ASSERT_EQ(report->frames().samples_size(), 3);
  for (int i = 0; i < 3; ++i) {
    const proto::RenderReply& s = report->frames().samples(i);
    EXPECT_EQ(s.frames(), 1);
    EXPECT_EQ(s.width() * s.height() * s.channels(), 6);
    EXPECT_EQ(s.pixels(), std::string(6, static_cast<char>(take.take_frames().refs(i).candidate())));
  }
  // The default take_frames decodes each state: a two-frame video per state.
  ScriptedCompute plain;
  const std::optional<proto::WorkerReport> decoded = ComputeThread::execute(plain, take);
  ASSERT_TRUE(decoded.has_value() && decoded->has_frames());
  ASSERT_EQ(decoded->frames().samples_size(), 3);
  EXPECT_EQ(decoded->frames().samples(2).frames(), 2);
  EXPECT_EQ(decoded->frames().samples(2).pixels(), std::string(4, '\x0a') + std::string(4, '\x14'));
}

TEST(ComputeThread, AThrowingCommandDoesNotStopTheThread) {
  ScriptedCompute compute;
  compute.throw_on_run = ScriptedCompute::Throw::kTorchCheck;
  ComputeThread thread(compute);
  thread.push(run_command(1, 1));
  std::vector<proto::WorkerReport> reports;
  for (int i = 0; i < 500 && reports.empty(); ++i) {
    reports = thread.take_reports();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(reports[0].has_error());
  compute.throw_on_run = ScriptedCompute::Throw::kNothing;
  thread.push(run_command(2, 3));
  thread.stop();
  reports = thread.take_reports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(reports[0].has_done());
}

}  // namespace
}  // namespace evosearch
