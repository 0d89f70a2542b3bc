#include "worker/worker_loop.h"

#include <unistd.h>

#include <chrono>

#include "common/logging.h"
#include "evosearch/cluster.pb.h"
#include "common/shard_files.h"
#include "worker/compute_thread.h"
#include "worker/shard_writer.h"

namespace evosearch {
namespace {

using Clock = std::chrono::steady_clock;

std::string host_name() {
  char name[256] = {0};
  gethostname(name, sizeof name - 1);
  return name;
}

// One round of state moves: buffers for every send and receive, the plane moves them, received
// buffers become resident states.
Status exchange(const proto::Exchange& x, DataPlane& plane, Backend& backend) {
  const bool device = plane.device_buffers();
  std::vector<StateBuffer> outgoing, incoming;
  std::vector<Transfer> sends, receives;
  for (const proto::StateMove& m : x.sends()) {
    ASSIGN_OR_RETURN(StateBuffer b, backend.outgoing(m.prompt(), m.ref(), m.with_x0(), device));
    sends.push_back(Transfer{m.peer(), b.data, b.bytes, b.ready_stream, b.owner});
    outgoing.push_back(std::move(b));
  }
  for (const proto::StateMove& m : x.receives()) {
    ASSIGN_OR_RETURN(StateBuffer b, backend.incoming(m.with_x0(), device));
    receives.push_back(Transfer{m.peer(), b.data, b.bytes, nullptr, b.owner});
    incoming.push_back(std::move(b));
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
    *r.mutable_model_phases() = backend.model_phases();
    return channel.send(options.coordinator, kReportTag, r);
  };
  proto::WorkerReport hello;
  hello.mutable_hello()->set_pid(static_cast<int32_t>(::getpid()));
  hello.mutable_hello()->set_host(host_name());
  hello.mutable_hello()->set_device(backend.device());
  hello.mutable_hello()->set_latent_bytes(backend.state_bytes());
  RETURN_IF_ERROR(report(hello));
  spdlog::info("worker ready: pid {} on {}, device {}, data plane {}", ::getpid(), host_name(), backend.device(), plane.name());

  ComputeThread computer(backend);
  ShardWriter writer(options.write_shard);  // checkpoint I/O: hashing, writing and fsync off this thread
  // Errors go to the coordinator, which decides what they mean (a prompt's own error fails that
  // prompt, any other stops the job): this rank goes on serving until it is told to stop.
  auto fail = [&](const proto::WorkerReport& error) {
    spdlog::error("{}", Status(static_cast<StatusCode>(error.error().code()), error.error().message()).to_string());
    return report(error);
  };
  // The compute thread's and the I/O thread's reports.
  auto send_on = [&](std::vector<proto::WorkerReport> reports) -> Status {
    for (proto::WorkerReport& r : reports) {
      if (r.has_error()) spdlog::warn("reporting: {}", r.error().message());
      RETURN_IF_ERROR(report(std::move(r)));
    }
    return Status::Ok();
  };
  Backoff backoff;
  auto last_heartbeat = Clock::now();
  for (;;) {
    RETURN_IF_ERROR(send_on(computer.take_reports()));  // 2a
    RETURN_IF_ERROR(send_on(writer.take_reports()));
    if (std::chrono::duration<double>(Clock::now() - last_heartbeat).count() >= options.heartbeat_seconds) {  // 2b
      proto::WorkerReport beat;
      beat.mutable_heartbeat()->set_steps(backend.steps_done());
      RETURN_IF_ERROR(report(beat));
      last_heartbeat = Clock::now();
    }
    ASSIGN_OR_RETURN(std::optional<Envelope> message, channel.try_receive(kCommandTag));  // 2c
    if (!message) {
      backoff.idle();
      continue;
    }
    backoff.reset();
    proto::WorkerCommand command;
    if (!command.ParseFromString(message->bytes)) {
      RETURN_IF_ERROR(fail(error_report(DataLoss("unreadable command from rank " + std::to_string(message->source)))));
      continue;
    }
    switch (command.command_case()) {
      case proto::WorkerCommand::kShutdown:  // 3
        if (options.on_shutdown) options.on_shutdown();
        computer.stop();
        writer.stop();  // every queued shard is written and answered: a shard asked for is never left half-done
        RETURN_IF_ERROR(send_on(computer.take_reports()));
        RETURN_IF_ERROR(send_on(writer.take_reports()));
        RETURN_IF_ERROR(channel.flush(60));
        return Status::Ok();
      case proto::WorkerCommand::kExchange: {
        const Status s = exchange(command.exchange(), plane, backend);
        if (!s.ok()) RETURN_IF_ERROR(fail(error_report(s.with_context("state move round " + std::to_string(command.exchange().round())))));
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
      case proto::WorkerCommand::kWriteShard: {
        // The states' bytes are copied here, in command order, so a Release after this command
        // cannot free them; the I/O thread writes them and its report answers the request.
        const auto& w = command.write_shard();
        auto states = backend.export_states(w.prompt(), {w.refs().begin(), w.refs().end()});
        if (!states.ok()) {
          RETURN_IF_ERROR(fail(error_report(states.status().with_context("checkpoint shard"), command)));
          break;
        }
        writer.push(ShardJob{w.request(), w.prompt(), w.output_dir(), w.path(), std::move(*states)});
        break;
      }
      case proto::WorkerCommand::kLoadShard: {
        const auto& l = command.load_shard();
        auto shard = read_shard(l.output_dir(), l.shard(), l.prompt());
        const Status s = shard.ok() ? backend.import_states(l.prompt(), shard->states()) : shard.status();
        if (!s.ok()) RETURN_IF_ERROR(fail(error_report(s, command)));
        break;
      }
      default:
        computer.push(std::move(command));
    }
  }
}

}  // namespace evosearch
