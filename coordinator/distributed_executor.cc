#include "coordinator/distributed_executor.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "cluster/signals.h"
#include "common/logging.h"
#include "coordinator/searcher.h"

namespace evosearch {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::string host_name() {
  char name[256] = {0};
  gethostname(name, sizeof name - 1);
  return name;
}

std::string ref_text(uint32_t prompt, const proto::StateRef& r) {
  return "prompt " + std::to_string(prompt) + " state (generation " + std::to_string(r.generation()) + ", candidate " +
         std::to_string(r.candidate()) + ", step " + std::to_string(r.step()) + ")";
}

}  // namespace

DistributedExecutor::DistributedExecutor(MpiChannel& channel, DistributedOptions options)
    : channel_(channel),
      options_(std::move(options)),
      scheduler_(static_cast<int>(options_.workers.size()), options_.batch_size) {
  for (int rank : options_.workers) workers_[rank].rank = rank;
}

DistributedExecutor::~DistributedExecutor() = default;

DistributedExecutor::Worker& DistributedExecutor::worker(int rank) { return workers_.at(rank); }

std::string DistributedExecutor::describe(int rank) const {
  const auto it = workers_.find(rank);
  if (it == workers_.end() || it->second.hello.pid() == 0) return "rank " + std::to_string(rank);
  return "rank " + std::to_string(rank) + " (pid " + std::to_string(it->second.hello.pid()) + " on " +
         it->second.hello.host() + ")";
}

Status DistributedExecutor::send(int rank, const proto::WorkerCommand& command) {
  return channel_.send(rank, kCommandTag, command);
}

Status DistributedExecutor::broadcast(const proto::WorkerCommand& command) {
  for (const auto& [rank, w] : workers_) RETURN_IF_ERROR(send(rank, command));
  return Status::Ok();
}

Status DistributedExecutor::connect() {
  const auto start = Clock::now();
  for (auto& [rank, w] : workers_) w.heard = w.progressed = start;
  Backoff backoff;
  for (;;) {
    size_t ready = 0;
    for (const auto& [rank, w] : workers_) ready += w.hello.latent_bytes() > 0;
    if (ready == workers_.size()) break;
    ASSIGN_OR_RETURN(const bool got, poll_once());
    if (got) {
      backoff.reset();
      continue;
    }
    if (seconds_since(start) > options_.worker_timeout) {
      std::string missing;
      for (const auto& [rank, w] : workers_) {
        if (w.hello.latent_bytes() == 0) missing += " " + std::to_string(rank);
      }
      return DeadlineExceeded("workers did not start within " + std::to_string(int(options_.worker_timeout)) +
                              " s (--worker-timeout); missing ranks:" + missing);
    }
    backoff.idle();
  }
  traffic_.state_bytes = workers_.begin()->second.hello.latent_bytes();
  for (const auto& [rank, w] : workers_) {
    if (w.hello.latent_bytes() != traffic_.state_bytes) {
      return FailedPrecondition(describe(rank) + " has states of " + std::to_string(w.hello.latent_bytes()) +
                                " bytes, rank " + std::to_string(workers_.begin()->first) + " of " +
                                std::to_string(traffic_.state_bytes) + ": every rank must load the same bundle");
    }
    spdlog::info("worker {} ready on {}", describe(rank), w.hello.device());
  }
  return Status::Ok();
}

Status DistributedExecutor::shutdown() {
  if (shut_down_) return Status::Ok();
  shut_down_ = true;
  proto::WorkerCommand c;
  c.mutable_shutdown();
  RETURN_IF_ERROR(broadcast(c));
  return channel_.flush();
}

Status DistributedExecutor::add_prompt(uint32_t prompt, const std::string& text, uint64_t key) {
  proto::WorkerCommand c;
  c.mutable_add_prompt()->set_prompt(prompt);
  c.mutable_add_prompt()->set_text(text);
  c.mutable_add_prompt()->set_key(key);
  return broadcast(c);
}

Status DistributedExecutor::import_states(uint32_t prompt,
                                          const google::protobuf::RepeatedPtrField<proto::StoredState>& states) {
  if (states.empty()) return Status::Ok();
  const int rank = options_.workers[next_import_++ % options_.workers.size()];
  proto::WorkerCommand c;
  c.mutable_import_states()->set_prompt(prompt);
  *c.mutable_import_states()->mutable_states() = states;
  for (const proto::StoredState& s : states) {
    placement_.add(prompt, s.ref(), rank, !s.x0().empty());
    checkpointed_[prompt][{s.ref().generation(), s.ref().candidate(), s.ref().step()}] = s;
  }
  return send(rank, c);
}

Status DistributedExecutor::submit(const std::vector<PromptTask>& tasks) {
  std::set<uint32_t> prompts;
  for (const PromptTask& t : tasks) {
    ++outstanding_[t.prompt];
    prompts.insert(t.prompt);
    traffic_.started_from_parent += t.task.has_parent();
  }
  for (uint32_t p : prompts) {
    const auto it = generation_end_.find(p);
    if (it == generation_end_.end()) continue;
    traffic_.dispatch_gap_seconds += seconds_since(it->second);
    ++traffic_.dispatch_gaps;
    generation_end_.erase(it);
  }
  scheduler_.add(tasks);
  return Status::Ok();
}

Status DistributedExecutor::dispatch() {
  std::vector<int> idle;
  for (const auto& [rank, w] : workers_) {
    if (!w.busy) idle.push_back(rank);
  }
  if (idle.empty() || scheduler_.ready() == 0) return Status::Ok();
  SchedulePlan plan = scheduler_.plan(idle, placement_);
  if (!plan.moves.empty()) {
    std::map<int, proto::WorkerCommand> rounds;
    const uint64_t round = next_round_++;
    for (const StateMoveOrder& m : plan.moves) {
      proto::StateMove* out = rounds[m.from].mutable_exchange()->add_sends();
      out->set_prompt(m.prompt);
      *out->mutable_ref() = m.ref;
      out->set_with_x0(m.with_x0);
      out->set_peer(m.to);
      proto::StateMove* in = rounds[m.to].mutable_exchange()->add_receives();
      *in = *out;
      in->set_peer(m.from);
      ++traffic_.state_moves;
      traffic_.state_move_bytes += traffic_.state_bytes * (m.with_x0 ? 2 : 1);
    }
    for (auto& [rank, command] : rounds) {
      command.mutable_exchange()->set_round(round);
      RETURN_IF_ERROR(send(rank, command));
    }
  }
  for (WorkerBatch& b : plan.batches) {
    Worker& w = worker(b.worker);
    proto::WorkerCommand c;
    proto::TaskBatch* batch = c.mutable_run();
    batch->set_batch(next_id_++);
    for (const PromptTask& t : b.tasks) {
      proto::PromptTaskMessage* m = batch->add_tasks();
      m->set_prompt(t.prompt);
      *m->mutable_task() = t.task;
    }
    RETURN_IF_ERROR(send(b.worker, c));
    w.busy = true;
    w.batch = batch->batch();
    w.tasks = std::move(b.tasks);
    w.progressed = Clock::now();
  }
  return Status::Ok();
}

StatusOr<bool> DistributedExecutor::poll_once() {
  ASSIGN_OR_RETURN(std::optional<Envelope> message, channel_.try_receive(kReportTag));
  if (!message) return false;
  proto::WorkerReport report;
  if (!report.ParseFromString(message->bytes)) return DataLoss("unreadable report from rank " + std::to_string(message->source));
  report.set_rank(message->source);
  RETURN_IF_ERROR(handle(report));
  return true;
}

Status DistributedExecutor::handle(const proto::WorkerReport& report) {
  const auto it = workers_.find(report.rank());
  if (it == workers_.end()) return Internal("a report from rank " + std::to_string(report.rank()) + ", which is not a worker");
  Worker& w = it->second;
  w.heard = Clock::now();
  w.model_seconds = report.model_seconds();
  switch (report.report_case()) {
    case proto::WorkerReport::kHello:
      w.hello = report.hello();
      return Status::Ok();
    case proto::WorkerReport::kHeartbeat:
      if (report.heartbeat().steps() != w.steps) w.progressed = w.heard;
      w.steps = report.heartbeat().steps();
      return Status::Ok();
    case proto::WorkerReport::kError:
      return Internal(describe(w.rank) + " failed: " + report.error().message());
    case proto::WorkerReport::kExported:
      exported_[report.exported().request()].assign(report.exported().states().begin(), report.exported().states().end());
      return Status::Ok();
    case proto::WorkerReport::kSample:
      samples_[report.sample().request()] = report.sample();
      return Status::Ok();
    case proto::WorkerReport::kDone:
      break;
    default:
      return DataLoss("an empty report from " + describe(w.rank));
  }
  const proto::BatchDone& done = report.done();
  if (!w.busy || done.batch() != w.batch) return Internal(describe(w.rank) + " reported a batch it was not running");
  if (done.results_size() != static_cast<int>(w.tasks.size())) {
    return Internal(describe(w.rank) + " returned " + std::to_string(done.results_size()) + " results for " +
                    std::to_string(w.tasks.size()) + " tasks");
  }
  for (int i = 0; i < done.results_size(); ++i) {
    const PromptTask& t = w.tasks[i];
    for (int step : t.task.keep_steps()) {
      const bool x0 = t.task.score() == proto::SCORE_X0_PREDICTION && step == t.task.end_step();
      placement_.add(t.prompt, state_ref(t.task.generation(), t.task.candidate(), step), w.rank, x0);
      ++traffic_.kept_states;
    }
    finished_.push_back(PromptResult{done.results(i).prompt(), done.results(i).result()});
    if (--outstanding_[t.prompt] == 0) generation_end_[t.prompt] = Clock::now();
  }
  w.busy = false;
  w.tasks.clear();
  w.progressed = Clock::now();
  return Status::Ok();
}

Status DistributedExecutor::check_health() {
  static Clock::time_point last_check;
  if (seconds_since(last_check) < 0.2) return Status::Ok();
  last_check = Clock::now();
  const std::string here = host_name();
  for (const auto& [rank, w] : workers_) {
    // A worker process on this host that is gone has died (srun does not always stop the job).
    if (w.hello.pid() > 0 && w.hello.host() == here && ::kill(w.hello.pid(), 0) != 0 && errno == ESRCH) {
      return Aborted(describe(rank) + " has died");
    }
    if (seconds_since(w.heard) > options_.worker_timeout) {
      return DeadlineExceeded(describe(rank) + " has not answered for " + std::to_string(int(seconds_since(w.heard))) +
                              " s (--worker-timeout " + std::to_string(int(options_.worker_timeout)) + "): hung or dead");
    }
    if (w.busy && seconds_since(w.progressed) > options_.worker_timeout) {
      return DeadlineExceeded(describe(rank) + " answers but has made no progress on its batch of " +
                              std::to_string(w.tasks.size()) + " tasks for " +
                              std::to_string(int(seconds_since(w.progressed))) + " s (--worker-timeout)");
    }
  }
  return Status::Ok();
}

StatusOr<bool> DistributedExecutor::progress(Backoff& backoff) {
  ASSIGN_OR_RETURN(const bool got, poll_once());
  if (got) {
    backoff.reset();
    RETURN_IF_ERROR(dispatch());  // a worker may have freed up
    return true;
  }
  RETURN_IF_ERROR(check_health());
  backoff.idle();
  return false;
}

StatusOr<std::vector<PromptResult>> DistributedExecutor::wait() {
  RETURN_IF_ERROR(dispatch());
  Backoff backoff;
  bool told = false;
  while (finished_.empty()) {
    bool busy = false;
    for (const auto& [rank, w] : workers_) busy = busy || w.busy;
    if (!busy && scheduler_.ready() == 0) return std::vector<PromptResult>{};
    ASSIGN_OR_RETURN(const bool got, progress(backoff));
    if (!got && !told && stop_requested()) {
      told = true;
      std::string ranks;
      for (const auto& [rank, w] : workers_) {
        if (w.busy) ranks += " " + std::to_string(rank);
      }
      spdlog::warn("signal {}: waiting for the batches in flight on ranks{} (if a rank died, the launcher stops the job "
                   "now: every prompt is checkpointed at its last finished generation, run the same command to resume)",
                   stop_requested(), ranks);
    }
  }
  std::vector<PromptResult> out;
  out.swap(finished_);
  return out;
}

template <typename Reply>
StatusOr<Reply> DistributedExecutor::request(int rank, const proto::WorkerCommand& command, uint64_t id,
                                             std::map<uint64_t, Reply>& replies) {
  RETURN_IF_ERROR(send(rank, command));
  Backoff backoff;
  while (!replies.count(id)) RETURN_IF_ERROR(progress(backoff).status());
  Reply reply = std::move(replies[id]);
  replies.erase(id);
  return reply;
}

int DistributedExecutor::holder_of(uint32_t prompt, const proto::StateRef& ref) const {
  const std::vector<int> holders = placement_.holders(prompt, ref);
  return holders.empty() ? -1 : holders.front();
}

StatusOr<std::vector<proto::StoredState>> DistributedExecutor::export_states(uint32_t prompt,
                                                                             const std::vector<proto::StateRef>& refs) {
  auto& cache = checkpointed_[prompt];
  std::map<int, std::vector<proto::StateRef>> wanted;
  for (const proto::StateRef& r : refs) {
    if (cache.count({r.generation(), r.candidate(), r.step()})) continue;
    const int holder = holder_of(prompt, r);
    if (holder < 0) return FailedPrecondition("checkpoint: " + ref_text(prompt, r) + " is not resident on any worker");
    wanted[holder].push_back(r);
  }
  for (const auto& [rank, list] : wanted) {
    const uint64_t id = next_id_++;
    proto::WorkerCommand c;
    c.mutable_export_states()->set_request(id);
    c.mutable_export_states()->set_prompt(prompt);
    for (const auto& r : list) *c.mutable_export_states()->add_refs() = r;
    ASSIGN_OR_RETURN(std::vector<proto::StoredState> states, request(rank, c, id, exported_));
    for (proto::StoredState& s : states) {
      traffic_.checkpoint_bytes += static_cast<int64_t>(s.state().size() + s.x0().size());
      const auto key = std::make_tuple(s.ref().generation(), s.ref().candidate(), s.ref().step());
      cache[key] = std::move(s);
    }
  }
  std::vector<proto::StoredState> out;
  for (const proto::StateRef& r : refs) {
    const auto it = cache.find({r.generation(), r.candidate(), r.step()});
    if (it == cache.end()) return Internal("checkpoint: a worker did not export " + ref_text(prompt, r));
    out.push_back(it->second);
  }
  return out;
}

Status DistributedExecutor::release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) {
  placement_.release_all_but(prompt, live);
  auto& cache = checkpointed_[prompt];
  std::set<std::tuple<uint32_t, uint32_t, uint32_t>> keep;
  for (const auto& r : live) keep.insert({r.generation(), r.candidate(), r.step()});
  for (auto it = cache.begin(); it != cache.end();) it = keep.count(it->first) ? std::next(it) : cache.erase(it);
  proto::WorkerCommand c;
  c.mutable_release()->set_prompt(prompt);
  for (const auto& r : live) *c.mutable_release()->add_live() = r;
  return broadcast(c);
}

Status DistributedExecutor::release_prompt(uint32_t prompt) {
  placement_.release_prompt(prompt);
  checkpointed_.erase(prompt);
  outstanding_.erase(prompt);
  generation_end_.erase(prompt);
  proto::WorkerCommand c;
  c.mutable_release()->set_prompt(prompt);
  c.mutable_release()->set_all(true);
  return broadcast(c);
}

StatusOr<proto::SampleReply> DistributedExecutor::sample(uint32_t prompt, const proto::StateRef& ref, bool decode,
                                                         bool score) {
  const int holder = holder_of(prompt, ref);
  if (holder < 0) return FailedPrecondition(ref_text(prompt, ref) + " is not resident on any worker");
  const uint64_t id = next_id_++;
  proto::WorkerCommand c;
  c.mutable_sample()->set_request(id);
  c.mutable_sample()->set_prompt(prompt);
  *c.mutable_sample()->mutable_ref() = ref;
  c.mutable_sample()->set_decode(decode);
  c.mutable_sample()->set_score(score);
  return request(holder, c, id, samples_);
}

StatusOr<Image> DistributedExecutor::decode(uint32_t prompt, const proto::StateRef& ref) {
  ASSIGN_OR_RETURN(const proto::SampleReply reply, sample(prompt, ref, true, false));
  Image image;
  image.width = reply.width();
  image.height = reply.height();
  image.channels = reply.channels();
  image.pixels.assign(reply.pixels().begin(), reply.pixels().end());
  if (image.pixels.size() != static_cast<size_t>(image.width) * image.height * image.channels) {
    return DataLoss("the worker holding " + ref_text(prompt, ref) + " sent an image whose size does not match its shape");
  }
  return image;
}

StatusOr<std::vector<double>> DistributedExecutor::score(uint32_t prompt, const proto::StateRef& ref) {
  ASSIGN_OR_RETURN(const proto::SampleReply reply, sample(prompt, ref, false, true));
  return std::vector<double>(reply.scores().begin(), reply.scores().end());
}

double DistributedExecutor::model_seconds() const {
  double total = 0;
  for (const auto& [rank, w] : workers_) total += w.model_seconds;
  return total;
}

}  // namespace evosearch
