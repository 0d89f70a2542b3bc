#include "coordinator/distributed_executor.h"

#include <algorithm>
#include <set>

#include "cluster/signals.h"
#include "common/logging.h"

namespace evosearch {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

DistributedExecutor::DistributedExecutor(MpiChannel& channel, DistributedOptions options)
    : channel_(channel),
      options_(std::move(options)),
      health_(options_.workers, options_.worker_timeout),
      scheduler_(static_cast<int>(options_.workers.size()), options_.batch_size) {}

Status DistributedExecutor::send(int rank, const proto::WorkerCommand& command) {
  return channel_.send(rank, kCommandTag, command);
}

Status DistributedExecutor::broadcast(const proto::WorkerCommand& command) {
  for (int rank : options_.workers) RETURN_IF_ERROR(send(rank, command));
  return Status::Ok();
}

Status DistributedExecutor::connect() {
  const auto start = Clock::now();
  health_.start(start);
  Backoff backoff;
  while (!health_.missing().empty()) {
    ASSIGN_OR_RETURN(std::optional<Envelope> message, channel_.try_receive(kReportTag));
    if (message) {
      proto::WorkerReport report;
      if (!report.ParseFromString(message->bytes)) return DataLoss("unreadable report from rank " + std::to_string(message->source));
      report.set_rank(message->source);
      RETURN_IF_ERROR(handle(report));
      backoff.reset();
      continue;
    }
    if (seconds_since(start) > options_.worker_timeout) {
      std::string missing;
      for (int rank : health_.missing()) missing += " " + std::to_string(rank);
      return DeadlineExceeded("workers did not start within " + std::to_string(static_cast<int>(options_.worker_timeout)) +
                              " s (--worker-timeout); missing ranks:" + missing);
    }
    backoff.idle();
  }
  const int first = options_.workers.front();
  traffic_.state_bytes = health_.hello(first).latent_bytes();
  for (int rank : options_.workers) {
    if (health_.hello(rank).latent_bytes() != traffic_.state_bytes) {
      return FailedPrecondition(health_.describe(rank) + " has states of " + std::to_string(health_.hello(rank).latent_bytes()) +
                                " bytes, rank " + std::to_string(first) + " of " + std::to_string(traffic_.state_bytes) +
                                ": every rank must load the same bundle");
    }
    spdlog::info("worker {} ready on {}", health_.describe(rank), health_.hello(rank).device());
  }
  return Status::Ok();
}

Status DistributedExecutor::shutdown() {
  if (shut_down_) return Status::Ok();
  shut_down_ = true;
  proto::WorkerCommand c;
  c.mutable_shutdown();
  RETURN_IF_ERROR(broadcast(c));
  return channel_.flush(options_.worker_timeout);
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
    checkpointed_.put(prompt, s);
  }
  return send(rank, c);
}

Status DistributedExecutor::submit(const std::vector<proto::PromptTask>& tasks) {
  std::set<uint32_t> prompts;
  for (const proto::PromptTask& t : tasks) {
    ++outstanding_[t.prompt()];
    prompts.insert(t.prompt());
    traffic_.started_from_parent += t.task().has_parent();
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
  for (int rank : options_.workers) {
    if (!running_.count(rank)) idle.push_back(rank);
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
    proto::WorkerCommand c;
    proto::TaskBatch* batch = c.mutable_run();
    batch->set_batch(next_batch_++);
    for (const proto::PromptTask& t : b.tasks) *batch->add_tasks() = t;
    RETURN_IF_ERROR(send(b.worker, c));
    health_.batch_started(b.worker, b.tasks.size(), Clock::now());
    running_[b.worker] = Batch{batch->batch(), std::move(b.tasks)};
  }
  return Status::Ok();
}

StatusOr<bool> DistributedExecutor::progress(Backoff& backoff) {
  ASSIGN_OR_RETURN(std::optional<Envelope> message, channel_.try_receive(kReportTag));
  if (!message) {
    RETURN_IF_ERROR(health_.check(Clock::now()));
    backoff.idle();
    return false;
  }
  backoff.reset();
  proto::WorkerReport report;
  if (!report.ParseFromString(message->bytes)) return DataLoss("unreadable report from rank " + std::to_string(message->source));
  report.set_rank(message->source);
  RETURN_IF_ERROR(handle(report));
  RETURN_IF_ERROR(dispatch());  // a worker may have freed up
  return true;
}

Status DistributedExecutor::handle(const proto::WorkerReport& report) {
  const int rank = report.rank();
  if (std::find(options_.workers.begin(), options_.workers.end(), rank) == options_.workers.end()) {
    return Internal("a report from rank " + std::to_string(rank) + ", which is not a worker");
  }
  health_.heard(rank, report, Clock::now());
  switch (report.report_case()) {
    case proto::WorkerReport::kHello:
    case proto::WorkerReport::kHeartbeat:
      return Status::Ok();
    case proto::WorkerReport::kError:
      return Internal(health_.describe(rank) + " failed: " + report.error().message());
    case proto::WorkerReport::kExported:
      replies_.deliver(report.exported().request(), report);
      return Status::Ok();
    case proto::WorkerReport::kSample:
      replies_.deliver(report.sample().request(), report);
      return Status::Ok();
    case proto::WorkerReport::kDone:
      return handle_done(rank, report.done());
    default:
      return DataLoss("an empty report from " + health_.describe(rank));
  }
}

Status DistributedExecutor::handle_done(int rank, const proto::BatchDone& done) {
  const auto it = running_.find(rank);
  if (it == running_.end() || done.batch() != it->second.id) {
    return Internal(health_.describe(rank) + " reported a batch it was not running");
  }
  const std::vector<proto::PromptTask>& tasks = it->second.tasks;
  if (done.results_size() != static_cast<int>(tasks.size())) {
    return Internal(health_.describe(rank) + " returned " + std::to_string(done.results_size()) + " results for " +
                    std::to_string(tasks.size()) + " tasks");
  }
  for (int i = 0; i < done.results_size(); ++i) {
    const proto::PromptTask& t = tasks[i];
    for (int step : t.task().keep_steps()) {
      const bool x0 = t.task().score() == proto::SCORE_X0_PREDICTION && step == t.task().end_step();
      placement_.add(t.prompt(), state_ref(t.task().generation(), t.task().candidate(), step), rank, x0);
      ++traffic_.kept_states;
    }
    finished_.push_back(done.results(i));
    if (--outstanding_[t.prompt()] == 0) generation_end_[t.prompt()] = Clock::now();
  }
  running_.erase(it);
  health_.batch_finished(rank, Clock::now());
  return Status::Ok();
}

StatusOr<std::vector<proto::PromptResult>> DistributedExecutor::wait() {
  RETURN_IF_ERROR(dispatch());
  Backoff backoff;
  bool told = false;
  while (finished_.empty()) {
    if (running_.empty() && scheduler_.ready() == 0) return std::vector<proto::PromptResult>{};
    ASSIGN_OR_RETURN(const bool got, progress(backoff));
    if (!got && !told && stop_requested()) {
      told = true;
      std::string ranks;
      for (const auto& [rank, batch] : running_) ranks += " " + std::to_string(rank);
      spdlog::warn("signal {}: waiting for the batches in flight on ranks{} (if a rank died, the launcher stops the job "
                   "now: every prompt is checkpointed at its last finished generation, run the same command to resume)",
                   stop_requested(), ranks);
    }
  }
  std::vector<proto::PromptResult> out;
  out.swap(finished_);
  return out;
}

StatusOr<proto::WorkerReport> DistributedExecutor::request(int rank, proto::WorkerCommand command,
                                                           ReplyTracker::Pending& pending) {
  RETURN_IF_ERROR(send(rank, command));
  Backoff backoff;
  for (;;) {
    if (std::optional<proto::WorkerReport> reply = pending.take()) return std::move(*reply);
    RETURN_IF_ERROR(progress(backoff).status());
  }
}

int DistributedExecutor::holder_of(uint32_t prompt, const proto::StateRef& ref) const {
  const std::vector<int> holders = placement_.holders(prompt, ref);
  return holders.empty() ? -1 : holders.front();
}

StatusOr<std::vector<proto::StoredState>> DistributedExecutor::export_states(uint32_t prompt,
                                                                             const std::vector<proto::StateRef>& refs) {
  std::map<int, std::vector<proto::StateRef>> wanted;  // holder -> states not yet at the coordinator
  for (const proto::StateRef& r : refs) {
    if (checkpointed_.has(prompt, r)) continue;
    const int holder = holder_of(prompt, r);
    if (holder < 0) return FailedPrecondition("checkpoint: " + describe_state(prompt, r) + " is not resident on any worker");
    wanted[holder].push_back(r);
  }
  for (const auto& [rank, list] : wanted) {
    ReplyTracker::Pending pending = replies_.open();
    proto::WorkerCommand c;
    c.mutable_export_states()->set_request(pending.id());
    c.mutable_export_states()->set_prompt(prompt);
    for (const auto& r : list) *c.mutable_export_states()->add_refs() = r;
    ASSIGN_OR_RETURN(proto::WorkerReport reply, request(rank, std::move(c), pending));
    for (proto::StoredState& s : *reply.mutable_exported()->mutable_states()) {
      traffic_.checkpoint_bytes += static_cast<int64_t>(s.state().size() + s.x0().size());
      checkpointed_.put(prompt, std::move(s));
    }
  }
  std::vector<proto::StoredState> out;
  for (const proto::StateRef& r : refs) {
    const proto::StoredState* s = checkpointed_.find(prompt, r);
    if (!s) return Internal("checkpoint: a worker did not export " + describe_state(prompt, r));
    out.push_back(*s);
  }
  return out;
}

Status DistributedExecutor::release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) {
  placement_.release_all_but(prompt, live);
  checkpointed_.release_all_but(prompt, live);
  proto::WorkerCommand c;
  c.mutable_release()->set_prompt(prompt);
  for (const auto& r : live) *c.mutable_release()->add_live() = r;
  return broadcast(c);
}

Status DistributedExecutor::release_prompt(uint32_t prompt) {
  placement_.release_prompt(prompt);
  checkpointed_.release_prompt(prompt);
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
  if (holder < 0) return FailedPrecondition(describe_state(prompt, ref) + " is not resident on any worker");
  ReplyTracker::Pending pending = replies_.open();
  proto::WorkerCommand c;
  c.mutable_sample()->set_request(pending.id());
  c.mutable_sample()->set_prompt(prompt);
  *c.mutable_sample()->mutable_ref() = ref;
  c.mutable_sample()->set_decode(decode);
  c.mutable_sample()->set_score(score);
  ASSIGN_OR_RETURN(proto::WorkerReport reply, request(holder, std::move(c), pending));
  return std::move(*reply.mutable_sample());
}

StatusOr<std::vector<Image>> DistributedExecutor::decode(uint32_t prompt, const proto::StateRef& ref) {
  ASSIGN_OR_RETURN(const proto::SampleReply reply, sample(prompt, ref, true, false));
  const size_t frame_bytes = static_cast<size_t>(std::max(0, reply.width())) * std::max(0, reply.height()) *
                             std::max(0, reply.channels());
  if (reply.frames() < 1 || frame_bytes == 0 || reply.pixels().size() != frame_bytes * reply.frames()) {
    return DataLoss("the worker holding " + describe_state(prompt, ref) + " sent frames whose size does not match their shape");
  }
  std::vector<Image> frames;
  for (int f = 0; f < reply.frames(); ++f) {
    Image& frame = frames.emplace_back(reply.width(), reply.height(), reply.channels());
    std::copy_n(reply.pixels().begin() + static_cast<std::ptrdiff_t>(f * frame_bytes), frame_bytes, frame.pixels.begin());
  }
  return frames;
}

StatusOr<std::vector<double>> DistributedExecutor::score(uint32_t prompt, const proto::StateRef& ref) {
  ASSIGN_OR_RETURN(const proto::SampleReply reply, sample(prompt, ref, false, true));
  return std::vector<double>(reply.scores().begin(), reply.scores().end());
}

}  // namespace evosearch
