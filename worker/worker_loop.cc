#include "worker/worker_loop.h"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "common/logging.h"
#include "evosearch/cluster.pb.h"

namespace evosearch {
namespace {

using Clock = std::chrono::steady_clock;

std::string host_name() {
  char name[256] = {0};
  gethostname(name, sizeof name - 1);
  return name;
}

proto::WorkerReport error_report(const Status& s) {
  proto::WorkerReport r;
  r.mutable_error()->set_message(s.to_string());
  return r;
}

// The computing thread: runs queued commands in order and leaves reports in an outbox.
class Computer {
 public:
  explicit Computer(Backend& backend) : backend_(backend), thread_([this] { loop(); }) {}
  ~Computer() { stop(); }

  void push(proto::WorkerCommand command) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(command));
    }
    wake_.notify_one();
  }
  // Lets the queue drain, then ends the thread.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
  }
  std::vector<proto::WorkerReport> take_reports() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<proto::WorkerReport> out;
    out.swap(outbox_);
    return out;
  }

 private:
  void loop() {
    for (;;) {
      proto::WorkerCommand command;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        command = std::move(queue_.front());
        queue_.pop_front();
      }
      std::optional<proto::WorkerReport> report = execute(command);
      if (report) {
        std::lock_guard<std::mutex> lock(mutex_);
        outbox_.push_back(std::move(*report));
      }
    }
  }

  std::optional<proto::WorkerReport> execute(const proto::WorkerCommand& command) {
    proto::WorkerReport r;
    if (command.has_add_prompt()) {
      const auto& p = command.add_prompt();
      const Status s = backend_.add_prompt(p.prompt(), p.text(), p.key());
      if (!s.ok()) return error_report(s.with_context("prompt " + std::to_string(p.prompt())));
      return std::nullopt;
    }
    if (command.has_run()) {
      std::vector<PromptTask> tasks;
      for (const auto& t : command.run().tasks()) tasks.push_back(PromptTask{t.prompt(), t.task()});
      auto results = backend_.run(tasks);
      if (!results.ok()) return error_report(results.status());
      proto::BatchDone* done = r.mutable_done();
      done->set_batch(command.run().batch());
      for (const PromptResult& pr : *results) {
        proto::PromptResultMessage* m = done->add_results();
        m->set_prompt(pr.prompt);
        *m->mutable_result() = pr.result;
      }
      return r;
    }
    if (command.has_sample()) {
      const auto& q = command.sample();
      proto::SampleReply* reply = r.mutable_sample();
      reply->set_request(q.request());
      if (q.score()) {
        auto scores = backend_.score(q.prompt(), q.ref());
        if (!scores.ok()) return error_report(scores.status());
        for (double v : *scores) reply->add_scores(v);
      }
      if (q.decode()) {
        auto image = backend_.decode(q.prompt(), q.ref());
        if (!image.ok()) return error_report(image.status());
        reply->set_width(image->width);
        reply->set_height(image->height);
        reply->set_channels(image->channels);
        reply->set_pixels(std::string(image->pixels.begin(), image->pixels.end()));
      }
      return r;
    }
    return error_report(Internal("unexpected command on the computing thread"));
  }

  Backend& backend_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<proto::WorkerCommand> queue_;
  std::vector<proto::WorkerReport> outbox_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

Status exchange(const proto::Exchange& x, DataPlane& plane, Backend& backend) {
  const bool device = plane.device_buffers();
  std::vector<StateBuffer> keep;
  std::vector<Transfer> sends, receives;
  for (const proto::StateMove& m : x.sends()) {
    ASSIGN_OR_RETURN(StateBuffer b, backend.outgoing(m.prompt(), m.ref(), m.with_x0(), device));
    sends.push_back(Transfer{m.peer(), b.data, b.bytes});
    keep.push_back(std::move(b));
  }
  std::vector<StateBuffer> incoming;
  for (const proto::StateMove& m : x.receives()) {
    incoming.push_back(backend.incoming(m.with_x0(), device));
    receives.push_back(Transfer{m.peer(), incoming.back().data, incoming.back().bytes});
  }
  RETURN_IF_ERROR(plane.exchange(sends, receives));
  for (int i = 0; i < x.receives_size(); ++i) {
    const proto::StateMove& m = x.receives(i);
    RETURN_IF_ERROR(backend.store_incoming(m.prompt(), m.ref(), m.with_x0(), incoming[i]));
  }
  return Status::Ok();
}

}  // namespace

Status serve_worker(MpiChannel& channel, DataPlane& plane, Backend& backend, const WorkerLoopOptions& options) {
  auto report = [&](proto::WorkerReport r) {
    r.set_model_seconds(backend.model_seconds());
    return channel.send(options.coordinator, kReportTag, r);
  };
  proto::WorkerReport hello;
  hello.mutable_hello()->set_pid(static_cast<int32_t>(::getpid()));
  hello.mutable_hello()->set_host(host_name());
  hello.mutable_hello()->set_device(backend.device());
  hello.mutable_hello()->set_latent_bytes(backend.state_bytes());
  RETURN_IF_ERROR(report(hello));
  spdlog::info("worker ready: pid {} on {}, device {}, data plane {}", ::getpid(), host_name(), backend.device(), plane.name());

  Computer computer(backend);
  Status failure;
  auto fail = [&](const Status& s) {
    if (failure.ok()) failure = s;
    spdlog::error("{}", s.to_string());
    return report(error_report(s));
  };
  Backoff backoff;
  auto last_heartbeat = Clock::now();
  for (;;) {
    for (proto::WorkerReport& r : computer.take_reports()) {
      if (r.has_error() && failure.ok()) failure = Internal(r.error().message());
      RETURN_IF_ERROR(report(std::move(r)));
    }
    // Heartbeats go out on time even while commands keep arriving.
    if (std::chrono::duration<double>(Clock::now() - last_heartbeat).count() >= options.heartbeat_seconds) {
      proto::WorkerReport beat;
      beat.mutable_heartbeat()->set_steps(backend.steps_done());
      RETURN_IF_ERROR(report(beat));
      last_heartbeat = Clock::now();
    }
    ASSIGN_OR_RETURN(std::optional<Envelope> message, channel.try_receive(kCommandTag));
    if (!message) {
      backoff.idle();
      continue;
    }
    backoff.reset();
    proto::WorkerCommand command;
    if (!command.ParseFromString(message->bytes)) {
      RETURN_IF_ERROR(fail(DataLoss("unreadable command from rank " + std::to_string(message->source))));
      continue;
    }
    switch (command.command_case()) {
      case proto::WorkerCommand::kShutdown:
        computer.stop();
        for (proto::WorkerReport& r : computer.take_reports()) RETURN_IF_ERROR(report(std::move(r)));
        RETURN_IF_ERROR(channel.flush());
        return failure;
      case proto::WorkerCommand::kExchange: {
        const Status s = exchange(command.exchange(), plane, backend);
        if (!s.ok()) RETURN_IF_ERROR(fail(s.with_context("state move round " + std::to_string(command.exchange().round()))));
        break;
      }
      case proto::WorkerCommand::kRelease: {
        const auto& r = command.release();
        if (r.all()) {
          backend.release_prompt(r.prompt());
        } else {
          backend.release_all_but(r.prompt(), {r.live().begin(), r.live().end()});
        }
        break;
      }
      case proto::WorkerCommand::kExportStates: {
        const auto& e = command.export_states();
        auto states = backend.export_states(e.prompt(), {e.refs().begin(), e.refs().end()});
        if (!states.ok()) {
          RETURN_IF_ERROR(fail(states.status()));
          break;
        }
        proto::WorkerReport r;
        r.mutable_exported()->set_request(e.request());
        for (auto& s : *states) *r.mutable_exported()->add_states() = std::move(s);
        RETURN_IF_ERROR(report(std::move(r)));
        break;
      }
      case proto::WorkerCommand::kImportStates: {
        const Status s = backend.import_states(command.import_states().prompt(), command.import_states().states());
        if (!s.ok()) RETURN_IF_ERROR(fail(s));
        break;
      }
      default:
        computer.push(std::move(command));
    }
  }
}

}  // namespace evosearch
