#include "coordinator/worker_health.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

namespace evosearch {
namespace {

std::string host_name() {
  char name[256] = {0};
  gethostname(name, sizeof name - 1);
  return name;
}

bool process_exists(int pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

}  // namespace

WorkerHealth::WorkerHealth(const std::vector<int>& ranks, double timeout_seconds, std::function<bool(int)> alive)
    : timeout_(timeout_seconds), alive_(alive ? std::move(alive) : process_exists), host_(host_name()) {
  for (int rank : ranks) workers_[rank];
}

void WorkerHealth::start(Clock::time_point now) {
  for (auto& [rank, w] : workers_) w.heard = w.progressed = now;
}

void WorkerHealth::heard(int rank, const proto::WorkerReport& report, Clock::time_point now) {
  Worker& w = workers_.at(rank);
  w.heard = now;
  w.model_seconds = report.model_seconds();
  w.model_phases = report.model_phases();
  if (report.has_hello()) w.hello = report.hello();
  if (report.has_heartbeat()) {
    if (report.heartbeat().steps() != w.steps) w.progressed = now;
    w.steps = report.heartbeat().steps();
  }
}

void WorkerHealth::batch_started(int rank, size_t tasks, Clock::time_point now) {
  Worker& w = workers_.at(rank);
  w.batch_tasks = tasks;
  w.progressed = now;
}

void WorkerHealth::batch_finished(int rank, Clock::time_point now) {
  Worker& w = workers_.at(rank);
  w.batch_tasks = 0;
  w.progressed = now;
}

bool WorkerHealth::said_hello(int rank) const { return workers_.at(rank).hello.latent_bytes() > 0; }

const proto::WorkerHello& WorkerHealth::hello(int rank) const { return workers_.at(rank).hello; }

std::vector<int> WorkerHealth::missing() const {
  std::vector<int> out;
  for (const auto& [rank, w] : workers_) {
    if (!said_hello(rank)) out.push_back(rank);
  }
  return out;
}

double WorkerHealth::model_seconds() const {
  double total = 0;
  for (const auto& [rank, w] : workers_) total += w.model_seconds;
  return total;
}

proto::PhaseSeconds WorkerHealth::model_phases() const {
  proto::PhaseSeconds total;
  for (const auto& [rank, w] : workers_) {
    total.set_encode(total.encode() + w.model_phases.encode());
    total.set_denoise(total.denoise() + w.model_phases.denoise());
    total.set_decode(total.decode() + w.model_phases.decode());
    total.set_score(total.score() + w.model_phases.score());
  }
  return total;
}

std::string WorkerHealth::describe(int rank) const {
  const auto it = workers_.find(rank);
  if (it == workers_.end() || it->second.hello.pid() == 0) return "rank " + std::to_string(rank);
  return "rank " + std::to_string(rank) + " (pid " + std::to_string(it->second.hello.pid()) + " on " +
         it->second.hello.host() + ")";
}

Status WorkerHealth::check(Clock::time_point now) {
  if (now - last_check_ < std::chrono::milliseconds(200)) return Status::Ok();
  last_check_ = now;
  const auto seconds = [&](Clock::time_point t) { return std::chrono::duration<double>(now - t).count(); };
  const std::string timeout = std::to_string(static_cast<int>(timeout_));
  for (const auto& [rank, w] : workers_) {
    // A worker process on this host that is gone has died (srun does not always stop the job).
    if (w.hello.pid() > 0 && w.hello.host() == host_ && !alive_(w.hello.pid())) {
      return Aborted(describe(rank) + " has died");
    }
    if (seconds(w.heard) > timeout_) {
      return DeadlineExceeded(describe(rank) + " has not answered for " + std::to_string(static_cast<int>(seconds(w.heard))) +
                              " s (--worker-timeout " + timeout + "): hung or dead");
    }
    if (w.batch_tasks > 0 && seconds(w.progressed) > timeout_) {
      return DeadlineExceeded(describe(rank) + " answers but has made no progress on its batch of " +
                              std::to_string(w.batch_tasks) + " tasks for " +
                              std::to_string(static_cast<int>(seconds(w.progressed))) + " s (--worker-timeout " +
                              timeout + ")");
    }
  }
  return Status::Ok();
}

}  // namespace evosearch
