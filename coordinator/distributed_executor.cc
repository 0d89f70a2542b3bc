#include "coordinator/distributed_executor.h"

#include <algorithm>
#include <set>

#include "cluster/signals.h"
#include "common/logging.h"
#include "common/shard_files.h"

namespace evosearch {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// A RenderReply's pixels as frames, checked against the shape it states.
StatusOr<std::vector<Image>> frames_of(const proto::RenderReply& reply, uint32_t prompt, const proto::StateRef& ref) {
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
  Setup& setup = setups_[prompt];  // a setup still waiting from an earlier try is replaced: its answers are ignored
  setup = Setup{};
  held_.erase(prompt);
  for (int rank : options_.workers) {
    setup.pending.push_back(replies_.open());
    proto::WorkerCommand c;
    c.mutable_add_prompt()->set_prompt(prompt);
    c.mutable_add_prompt()->set_text(text);
    c.mutable_add_prompt()->set_key(key);
    c.mutable_add_prompt()->set_request(setup.pending.back().id());
    RETURN_IF_ERROR(send(rank, c));
  }
  return Status::Ok();
}

Status DistributedExecutor::submit(const std::vector<proto::PromptRolloutTask>& tasks) {
  std::set<uint32_t> prompts;
  for (const proto::PromptRolloutTask& t : tasks) {
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
  std::vector<proto::PromptRolloutTask> ready;
  for (const proto::PromptRolloutTask& t : tasks) {
    if (setups_.count(t.prompt())) {
      held_[t.prompt()].push_back(t);
    } else {
      ready.push_back(t);
    }
  }
  scheduler_.add(ready);
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
    for (const proto::PromptRolloutTask& t : b.tasks) *batch->add_tasks() = t;
    RETURN_IF_ERROR(send(b.worker, c));
    health_.batch_started(b.worker, b.tasks.size(), Clock::now());
    running_[b.worker] = Batch{batch->batch(), std::move(b.tasks), {}};
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
  // Every report that has come, before work is handed out: the answers to a burst of AddPrompts
  // free their prompts' tasks together, so they share batches.
  while (message) {
    traffic_.coordinator_bytes_in += static_cast<int64_t>(message->bytes.size());
    proto::WorkerReport report;
    if (!report.ParseFromString(message->bytes)) return DataLoss("unreadable report from rank " + std::to_string(message->source));
    report.set_rank(message->source);
    RETURN_IF_ERROR(handle(report));
    ASSIGN_OR_RETURN(message, channel_.try_receive(kReportTag));
  }
  RETURN_IF_ERROR(check_setups());
  RETURN_IF_ERROR(dispatch());  // a worker may have freed up, or a prompt's tasks may be free to run
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
      return handle_error(rank, report);
    case proto::WorkerReport::kAdded:
      replies_.deliver(report.added().request(), report);
      return Status::Ok();
    case proto::WorkerReport::kShardWritten:
      replies_.deliver(report.shard_written().request(), report);
      return Status::Ok();
    case proto::WorkerReport::kRender:
      replies_.deliver(report.render().request(), report);
      return Status::Ok();
    case proto::WorkerReport::kFrames:
      replies_.deliver(report.frames().request(), report);
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
  const std::vector<proto::PromptRolloutTask>& tasks = it->second.tasks;
  if (done.results_size() != static_cast<int>(tasks.size())) {
    return Internal(health_.describe(rank) + " returned " + std::to_string(done.results_size()) + " results for " +
                    std::to_string(tasks.size()) + " tasks");
  }
  for (int i = 0; i < done.results_size(); ++i) {
    const proto::PromptRolloutTask& t = tasks[i];
    if (it->second.dropped.count(t.prompt())) continue;  // given up: release_prompt() frees what the worker kept
    for (int step : t.task().keep_steps()) {
      const bool x0 = t.task().score() == proto::SCORE_X0_PREDICTION && step == t.task().end_step();
      placement_.add(t.prompt(), state_ref(t.task().generation(), t.task().candidate(), step), rank, x0);
      ++traffic_.kept_states;
    }
    computed_on_[state_key(t.prompt(), state_ref(t.task().generation(), t.task().candidate(), t.task().end_step()))] = rank;
    finished_.push_back(done.results(i));
    if (--outstanding_[t.prompt()] == 0) generation_end_[t.prompt()] = Clock::now();
  }
  running_.erase(it);
  health_.batch_finished(rank, Clock::now());
  return Status::Ok();
}

bool DistributedExecutor::Batch::holds(uint32_t prompt) const {
  return std::any_of(tasks.begin(), tasks.end(), [&](const proto::PromptRolloutTask& t) { return t.prompt() == prompt; });
}

Status DistributedExecutor::worker_status(int rank, const proto::WorkerError& error) const {
  const int32_t code = error.code();
  if (code == static_cast<int32_t>(StatusCode::kModelError)) return ModelError(error.message());
  const bool known = code > static_cast<int32_t>(StatusCode::kOk) && code <= static_cast<int32_t>(StatusCode::kModelError);
  return Status(known ? static_cast<StatusCode>(code) : StatusCode::kInternal,
                health_.describe(rank) + " failed: " + error.message());
}

Status DistributedExecutor::handle_error(int rank, const proto::WorkerReport& report) {
  const proto::WorkerError& error = report.error();
  Status status = worker_status(rank, error);
  if (error.batch() != 0) {
    const auto it = running_.find(rank);
    if (it == running_.end() || it->second.id != error.batch()) {
      return Internal(health_.describe(rank) + " reported an error for a batch it was not running: " + error.message());
    }
    const Batch batch = std::move(it->second);
    running_.erase(it);
    health_.batch_finished(rank, Clock::now());
    if (status.code() != StatusCode::kModelError) return status;  // the machine's (or a service out of reach): the job stops
    Failure failure{std::move(status), {}};
    bool fresh = false;  // some prompt of the batch not given up yet
    for (const proto::PromptRolloutTask& t : batch.tasks) {
      if (std::find(failure.prompts.begin(), failure.prompts.end(), t.prompt()) != failure.prompts.end()) continue;
      failure.prompts.push_back(t.prompt());
      fresh |= !batch.dropped.count(t.prompt());
    }
    // Every prompt of it failed already (in another batch): this error is no news.
    if (!fresh) return Status::Ok();
    for (uint32_t p : failure.prompts) {
      if (!batch.dropped.count(p)) drop_tasks(p);
    }
    spdlog::warn("{}: a batch of {} tasks failed: {}", health_.describe(rank), batch.tasks.size(), failure.status.message());
    failures_.push_back(std::move(failure));
    return Status::Ok();
  }
  // A request's error goes to whoever waits for it (await(), check_setups()); none waits any
  // more for one of an earlier try of a prompt.
  if (error.request() != 0) {
    replies_.deliver(error.request(), report);
    return Status::Ok();
  }
  return status;  // a state move or a shard load: the job stops
}

Status DistributedExecutor::check_setups() {
  for (auto it = setups_.begin(); it != setups_.end();) {
    Setup& setup = it->second;
    for (auto p = setup.pending.begin(); p != setup.pending.end();) {
      std::optional<proto::WorkerReport> reply = p->take();
      if (!reply) {
        ++p;
        continue;
      }
      if (reply->has_error()) {
        const Status s = worker_status(reply->rank(), reply->error());
        if (s.code() != StatusCode::kModelError) return s;
        if (setup.error.ok()) setup.error = s;
      }
      p = setup.pending.erase(p);
    }
    if (!setup.pending.empty()) {
      ++it;
      continue;
    }
    const uint32_t prompt = it->first;
    if (!setup.error.ok()) {  // its encoder failed: charged as in process, before any of its tasks ran
      failures_.push_back(Failure{setup.error, {prompt}});
      held_.erase(prompt);
      outstanding_.erase(prompt);
    } else if (const auto held = held_.find(prompt); held != held_.end()) {
      scheduler_.add(held->second);
      held_.erase(held);
    }
    it = setups_.erase(it);
  }
  return Status::Ok();
}

void DistributedExecutor::drop_tasks(uint32_t prompt) {
  scheduler_.drop(prompt);
  held_.erase(prompt);
  setups_.erase(prompt);
  for (auto& [rank, batch] : running_) {
    if (batch.holds(prompt)) batch.dropped.insert(prompt);
  }
  finished_.erase(std::remove_if(finished_.begin(), finished_.end(),
                                 [&](const proto::PromptRolloutResult& r) { return r.prompt() == prompt; }),
                  finished_.end());
  outstanding_.erase(prompt);
  generation_end_.erase(prompt);
}

bool DistributedExecutor::running_tasks_of(uint32_t prompt) const {
  return std::any_of(running_.begin(), running_.end(), [&](const auto& r) { return r.second.holds(prompt); });
}

StatusOr<std::vector<proto::PromptRolloutResult>> DistributedExecutor::wait() {
  RETURN_IF_ERROR(check_setups());
  RETURN_IF_ERROR(dispatch());
  Backoff backoff;
  while (finished_.empty()) {
    if (!failures_.empty()) {
      Failure failure = std::move(failures_.front());
      failures_.pop_front();
      failed_prompts_ = std::move(failure.prompts);
      return failure.status;
    }
    if (running_.empty() && scheduler_.ready() == 0 && held_.empty()) return std::vector<proto::PromptRolloutResult>{};
    // A stop signal abandons the batches in flight (their generations are redone on resume), so
    // stopping never waits for a long batch, or for a worker that hangs.
    if (const int signal = stop_requested()) {
      return Status(StatusCode::kUnavailable, "signal " + std::to_string(signal) + ": the batches in flight on " +
                                                  std::to_string(running_.size()) + " workers are abandoned");
    }
    RETURN_IF_ERROR(progress(backoff).status());
  }
  std::vector<proto::PromptRolloutResult> out;
  out.swap(finished_);
  return out;
}

StatusOr<std::vector<proto::WorkerReport>> DistributedExecutor::await(std::vector<ReplyTracker::Pending>& pending) {
  std::vector<std::optional<proto::WorkerReport>> replies(pending.size());
  size_t left = pending.size();
  Backoff backoff;
  while (left > 0) {
    for (size_t i = 0; i < pending.size(); ++i) {
      if (replies[i]) continue;
      replies[i] = pending[i].take();
      if (replies[i] && replies[i]->has_error()) return worker_status(replies[i]->rank(), replies[i]->error());
      left -= replies[i].has_value();
    }
    if (left > 0) RETURN_IF_ERROR(progress(backoff).status());
  }
  std::vector<proto::WorkerReport> out;
  for (auto& r : replies) out.push_back(std::move(*r));
  return out;
}

int DistributedExecutor::holder_of(uint32_t prompt, const proto::StateRef& ref) const {
  const std::vector<int> holders = placement_.holders(prompt, ref);
  return holders.empty() ? -1 : holders.front();
}

StatusOr<std::vector<proto::ShardRef>> DistributedExecutor::write_shards(uint32_t prompt,
                                                                          const std::vector<proto::StateRef>& refs,
                                                                          const ShardTarget& target) {
  std::map<int, std::vector<proto::StateRef>> by_holder;
  for (const proto::StateRef& r : refs) {
    const int holder = holder_of(prompt, r);
    if (holder < 0) return FailedPrecondition("checkpoint: " + describe_state(prompt, r) + " is not resident on any worker");
    by_holder[holder].push_back(r);
    traffic_.first_checkpoint_states += checkpointed_.emplace(state_key(prompt, r), true).second;
  }
  traffic_.shard_states += static_cast<int64_t>(refs.size());
  std::vector<ReplyTracker::Pending> pending;
  for (const auto& [rank, list] : by_holder) {  // all workers write at once
    pending.push_back(replies_.open());
    proto::WorkerCommand c;
    proto::WriteShard* w = c.mutable_write_shard();
    w->set_request(pending.back().id());
    w->set_prompt(prompt);
    for (const auto& r : list) *w->add_refs() = r;
    w->set_output_dir(target.output_dir);
    w->set_path(shard_path(prompt, target.generation, target.token, rank));
    RETURN_IF_ERROR(send(rank, c));
  }
  ASSIGN_OR_RETURN(std::vector<proto::WorkerReport> replies, await(pending));
  std::vector<proto::ShardRef> shards;
  for (proto::WorkerReport& reply : replies) {
    traffic_.shard_bytes += reply.shard_written().shard().bytes();
    shards.push_back(std::move(*reply.mutable_shard_written()->mutable_shard()));
  }
  return shards;
}

Status DistributedExecutor::load_shards(uint32_t prompt, const std::string& output_dir,
                                        const google::protobuf::RepeatedPtrField<proto::ShardRef>& shards) {
  for (const proto::ShardRef& shard : shards) {
    const int rank = options_.workers[next_import_++ % options_.workers.size()];
    proto::WorkerCommand c;
    c.mutable_load_shard()->set_prompt(prompt);
    c.mutable_load_shard()->set_output_dir(output_dir);
    *c.mutable_load_shard()->mutable_shard() = shard;
    RETURN_IF_ERROR(send(rank, c));
    // The worker loads it before it takes its next command, so tasks sent later find the states.
    for (int i = 0; i < shard.states_size(); ++i) {
      placement_.add(prompt, shard.states(i), rank, i < shard.has_x0_size() && shard.has_x0(i));
    }
  }
  return Status::Ok();
}

Status DistributedExecutor::release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) {
  placement_.release_all_but(prompt, live);
  erase_all_but(checkpointed_, prompt, live);
  erase_all_but(computed_on_, prompt, live);
  proto::WorkerCommand c;
  c.mutable_release()->set_prompt(prompt);
  for (const auto& r : live) *c.mutable_release()->add_live() = r;
  return broadcast(c);
}

Status DistributedExecutor::release_prompt(uint32_t prompt) {
  drop_tasks(prompt);
  // A batch still running for it (given up after an error) keeps states on its worker when it
  // ends: the Release goes after it, so it frees those too.
  Backoff backoff;
  while (running_tasks_of(prompt)) RETURN_IF_ERROR(progress(backoff).status());
  placement_.release_prompt(prompt);
  erase_all_but(checkpointed_, prompt, {});
  erase_all_but(computed_on_, prompt, {});
  outstanding_.erase(prompt);
  generation_end_.erase(prompt);
  proto::WorkerCommand c;
  c.mutable_release()->set_prompt(prompt);
  c.mutable_release()->set_all(true);
  return broadcast(c);
}

StatusOr<proto::RenderReply> DistributedExecutor::render(uint32_t prompt, const proto::StateRef& ref, bool decode,
                                                         bool score) {
  const int holder = holder_of(prompt, ref);
  if (holder < 0) return FailedPrecondition(describe_state(prompt, ref) + " is not resident on any worker");
  std::vector<ReplyTracker::Pending> pending;
  pending.push_back(replies_.open());
  proto::WorkerCommand c;
  c.mutable_render()->set_request(pending.back().id());
  c.mutable_render()->set_prompt(prompt);
  *c.mutable_render()->mutable_ref() = ref;
  c.mutable_render()->set_decode(decode);
  c.mutable_render()->set_score(score);
  RETURN_IF_ERROR(send(holder, c));
  ASSIGN_OR_RETURN(std::vector<proto::WorkerReport> replies, await(pending));
  return std::move(*replies[0].mutable_render());
}

StatusOr<std::vector<Image>> DistributedExecutor::decode(uint32_t prompt, const proto::StateRef& ref) {
  ASSIGN_OR_RETURN(const proto::RenderReply reply, render(prompt, ref, true, false));
  return frames_of(reply, prompt, ref);
}

StatusOr<std::vector<std::vector<Image>>> DistributedExecutor::take_frames(uint32_t prompt,
                                                                           const std::vector<proto::StateRef>& refs) {
  std::map<int, std::vector<size_t>> by_rank;  // the worker that ran each state keeps its frames
  for (size_t i = 0; i < refs.size(); ++i) {
    const auto it = computed_on_.find(state_key(prompt, refs[i]));
    const int rank = it != computed_on_.end() ? it->second : holder_of(prompt, refs[i]);
    if (rank < 0) return FailedPrecondition(describe_state(prompt, refs[i]) + " is not resident on any worker");
    by_rank[rank].push_back(i);
  }
  std::vector<ReplyTracker::Pending> pending;
  for (const auto& [rank, members] : by_rank) {  // all workers answer at once
    pending.push_back(replies_.open());
    proto::WorkerCommand c;
    proto::TakeFrames* take = c.mutable_take_frames();
    take->set_request(pending.back().id());
    take->set_prompt(prompt);
    for (size_t i : members) *take->add_refs() = refs[i];
    RETURN_IF_ERROR(send(rank, c));
  }
  ASSIGN_OR_RETURN(const std::vector<proto::WorkerReport> replies, await(pending));
  std::vector<std::vector<Image>> out(refs.size());
  size_t r = 0;
  for (const auto& [rank, members] : by_rank) {
    const proto::FramesTaken& taken = replies[r++].frames();
    if (taken.samples_size() != static_cast<int>(members.size())) {
      return DataLoss(health_.describe(rank) + " sent " + std::to_string(taken.samples_size()) + " samples' frames for " +
                      std::to_string(members.size()) + " states");
    }
    for (size_t k = 0; k < members.size(); ++k) {
      ASSIGN_OR_RETURN(out[members[k]], frames_of(taken.samples(static_cast<int>(k)), prompt, refs[members[k]]));
    }
  }
  return out;
}

StatusOr<std::vector<double>> DistributedExecutor::score(uint32_t prompt, const proto::StateRef& ref) {
  ASSIGN_OR_RETURN(const proto::RenderReply reply, render(prompt, ref, false, true));
  return std::vector<double>(reply.scores().begin(), reply.scores().end());
}

}  // namespace evosearch
