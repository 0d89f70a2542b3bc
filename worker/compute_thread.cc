#include "worker/compute_thread.h"

#include <algorithm>

namespace evosearch {
namespace {

Status put_frames(const std::vector<Image>& frames, proto::RenderReply* reply) {
  if (frames.empty()) return Internal("decoding gave no frames");
  reply->set_width(frames.front().width);
  reply->set_height(frames.front().height);
  reply->set_channels(frames.front().channels);
  reply->set_frames(static_cast<int32_t>(frames.size()));
  for (const Image& frame : frames) reply->mutable_pixels()->append(frame.pixels.begin(), frame.pixels.end());
  return Status::Ok();
}

proto::WorkerReport run_command(RolloutCompute& compute, const proto::WorkerCommand& command) {
  proto::WorkerReport r;
  const auto error_report = [&](const Status& s) { return evosearch::error_report(s, command); };
  if (command.has_add_prompt()) {
    const auto& p = command.add_prompt();
    // The message as in process (no context added): the prompt's recorded error is the same.
    const Status s = compute.add_prompt(p.prompt(), p.text(), p.key());
    if (!s.ok()) return error_report(s);
    r.mutable_added()->set_request(p.request());
    return r;
  }
  if (command.has_run()) {
    auto results = compute.run({command.run().tasks().begin(), command.run().tasks().end()});
    if (!results.ok()) return error_report(results.status());
    proto::BatchDone* done = r.mutable_done();
    done->set_batch(command.run().batch());
    for (proto::PromptRolloutResult& result : *results) *done->add_results() = std::move(result);
    return r;
  }
  if (command.has_render()) {
    const auto& q = command.render();
    proto::RenderReply* reply = r.mutable_render();
    reply->set_request(q.request());
    if (q.score()) {
      auto scores = compute.score(q.prompt(), q.ref());
      if (!scores.ok()) return error_report(scores.status());
      for (double v : *scores) reply->add_scores(v);
    }
    if (q.decode()) {
      auto frames = compute.decode(q.prompt(), q.ref());
      if (!frames.ok()) return error_report(frames.status());
      if (const Status s = put_frames(*frames, reply); !s.ok()) return error_report(s);
    }
    return r;
  }
  if (command.has_take_frames()) {
    const auto& q = command.take_frames();
    auto taken = compute.take_frames(q.prompt(), {q.refs().begin(), q.refs().end()});
    if (!taken.ok()) return error_report(taken.status());
    if (taken->size() != static_cast<size_t>(q.refs_size())) return error_report(Internal("take_frames answered the wrong number of states"));
    proto::FramesTaken* reply = r.mutable_frames();
    reply->set_request(q.request());
    for (const std::vector<Image>& frames : *taken) {
      if (const Status s = put_frames(frames, reply->add_samples()); !s.ok()) return error_report(s);
    }
    return r;
  }
  return error_report(Internal("unexpected command on the compute thread"));
}

}  // namespace

proto::WorkerReport error_report(const Status& status, uint64_t batch, uint64_t request,
                                 const std::vector<uint32_t>& prompts) {
  proto::WorkerReport r;
  proto::WorkerError* e = r.mutable_error();
  e->set_message(status.message());
  e->set_code(static_cast<int32_t>(status.code()));
  e->set_batch(batch);
  e->set_request(request);
  for (uint32_t p : prompts) {
    if (std::find(e->prompts().begin(), e->prompts().end(), p) == e->prompts().end()) e->add_prompts(p);
  }
  return r;
}

proto::WorkerReport error_report(const Status& status, const proto::WorkerCommand& command) {
  switch (command.command_case()) {
    case proto::WorkerCommand::kAddPrompt:
      return error_report(status, 0, command.add_prompt().request(), {command.add_prompt().prompt()});
    case proto::WorkerCommand::kRun: {
      std::vector<uint32_t> prompts;
      for (const proto::PromptRolloutTask& t : command.run().tasks()) prompts.push_back(t.prompt());
      return error_report(status, command.run().batch(), 0, prompts);
    }
    case proto::WorkerCommand::kRender:
      return error_report(status, 0, command.render().request(), {command.render().prompt()});
    case proto::WorkerCommand::kTakeFrames:
      return error_report(status, 0, command.take_frames().request(), {command.take_frames().prompt()});
    case proto::WorkerCommand::kWriteShard:
      return error_report(status, 0, command.write_shard().request(), {command.write_shard().prompt()});
    case proto::WorkerCommand::kLoadShard:
      return error_report(status, 0, 0, {command.load_shard().prompt()});
    default:
      return error_report(status);
  }
}

std::optional<proto::WorkerReport> ComputeThread::execute(RolloutCompute& compute,
                                                          const proto::WorkerCommand& command) {
  // An exception is the machine's (LibTorch's out of memory, a broken invariant), never charged to a prompt.
  try {
    return run_command(compute, command);
  } catch (const std::exception& e) {
    return error_report(Internal(std::string("the compute thread caught an exception: ") + e.what()), command);
  } catch (...) {
    return error_report(Internal("the compute thread caught an exception of unknown type"), command);
  }
}

ComputeThread::ComputeThread(RolloutCompute& compute) : compute_(compute), thread_([this] { loop(); }) {}

ComputeThread::~ComputeThread() { stop(); }

void ComputeThread::push(proto::WorkerCommand command) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(command));
  }
  wake_.notify_one();
}

void ComputeThread::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

std::vector<proto::WorkerReport> ComputeThread::take_reports() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<proto::WorkerReport> out;
  out.swap(outbox_);
  return out;
}

void ComputeThread::loop() {
  for (;;) {
    proto::WorkerCommand command;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      command = std::move(queue_.front());
      queue_.pop_front();
    }
    std::optional<proto::WorkerReport> report = execute(compute_, command);
    if (report) {
      std::lock_guard<std::mutex> lock(mutex_);
      outbox_.push_back(std::move(*report));
    }
  }
}

}  // namespace evosearch
