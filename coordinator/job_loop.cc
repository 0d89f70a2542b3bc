#include "coordinator/job_loop.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <thread>

#include "cluster/signals.h"
#include "common/logging.h"
#include "common/shard_files.h"
#include "common/stopwatch.h"
#include "coordinator/job_spec.h"
#include "coordinator/search/suite_budget.h"

namespace evosearch {
namespace {

// Noise key of a prompt: its text, plus which occurrence it is when a suite repeats it.
std::vector<uint64_t> prompt_keys(const std::vector<PromptEntry>& suite) {
  std::map<std::string, int> seen;
  std::vector<uint64_t> keys;
  for (const PromptEntry& e : suite) {
    const int n = seen[e.text]++;
    keys.push_back(prompt_key(n == 0 ? e.text : e.text + "\x1f#" + std::to_string(n)));
  }
  return keys;
}

bool lease_lost(const Status& s) { return s.code() == StatusCode::kFailedPrecondition; }

Status stopped(int signal) {
  return Status(StatusCode::kUnavailable, "stopped by signal " + std::to_string(signal) +
                                              ", with every prompt checkpointed at its last finished generation; "
                                              "run the same command again to resume");
}

}  // namespace

JobLoop::JobLoop(const proto::JobSpec& spec, const proto::BundleManifest& manifest, JobLoopOptions options,
               Executor& executor, JobStore& store, LeaseKeeper& keeper)
    : spec_(spec),
      manifest_(manifest),
      options_(std::move(options)),
      executor_(executor),
      store_(store),
      keeper_(keeper),
      answers_(executor, store, spec.output(), options_.steps),
      progress_(store, options_.owner) {}

Status JobLoop::add_prompts(const std::vector<PromptEntry>& suite) {
  const std::vector<uint64_t> keys = prompt_keys(suite);
  for (uint32_t i = 0; i < suite.size(); ++i) {
    PromptJob job;
    job.index = i;
    job.entry = suite[i];
    job.key = keys[i];
    ASSIGN_OR_RETURN(job.searcher, make_searcher(spec_.search(), options_.steps, SearchKey{spec_.seed(), keys[i]}));
    jobs_.push_back(std::move(job));
  }
  outcomes_.resize(jobs_.size());
  return Status::Ok();
}

size_t JobLoop::in_flight_limit() const {
  if (spec_.prompts_in_flight() > 0) return static_cast<size_t>(spec_.prompts_in_flight());
  return static_cast<size_t>(std::max(8, 2 * executor_.workers()));
}

StatusOr<std::vector<proto::PromptOutcome>> JobLoop::run() {
  progress_.start();
  for (;;) {
    RETURN_IF_ERROR(keeper_.error());
    for (uint32_t prompt : keeper_.take_lost()) {
      if (jobs_[prompt].lease) RETURN_IF_ERROR(abandon(jobs_[prompt]));
    }
    if (const int signal = stop_requested()) {
      release_leases();
      (void)store_.log_event("run " + options_.owner + " stopped by signal " + std::to_string(signal));
      return stopped(signal);
    }
    RETURN_IF_ERROR(claim_prompts());
    RETURN_IF_ERROR(start_solo());
    if (active_.empty()) {
      if (!suspects_.empty()) continue;
      if (any_parked()) {
        RETURN_IF_ERROR(unpark());
        if (active_.empty() && any_parked()) {
          std::this_thread::sleep_for(std::chrono::duration<double>(options_.poll_seconds));  // others' kept generations
        }
        continue;
      }
      ASSIGN_OR_RETURN(const bool complete, job_complete());
      if (complete) break;
      std::this_thread::sleep_for(std::chrono::duration<double>(options_.poll_seconds));  // others hold the rest
      continue;
    }
    const auto wait_start = Clock::now();
    auto results = executor_.wait();
    seconds_.waiting += std::chrono::duration<double>(Clock::now() - wait_start).count();
    if (!results.ok() && results.status().code() == StatusCode::kUnavailable && stop_requested()) continue;
    if (!results.ok() && results.status().code() == StatusCode::kModelError) {
      RETURN_IF_ERROR(batch_failed(results.status()));
      continue;
    }
    if (!results.ok()) return results.status();
    if (results->empty()) return Internal("the executor returned no results while generations were in flight");
    for (const proto::PromptRolloutResult& r : *results) {
      if (r.prompt() >= jobs_.size()) return Internal("a result for prompt " + std::to_string(r.prompt()) + ", which is not in the suite");
      jobs_[r.prompt()].collected.push_back(r.result());
    }
    for (PromptJob* j : std::vector<PromptJob*>(active_)) {
      if (j->in_flight.empty() || j->collected.size() < j->in_flight.size()) continue;
      RETURN_IF_ERROR(charged_or(*j, complete_generation(*j)));  // grids, answers and their scores decode
    }
    active_.erase(std::remove_if(active_.begin(), active_.end(), [](PromptJob* j) { return j->in_flight.empty(); }),
                  active_.end());
    if (solo_ && std::find(active_.begin(), active_.end(), solo_) == active_.end()) solo_ = nullptr;  // done, failed or lost
    log_progress(false);
  }
  std::vector<proto::PromptOutcome> all;
  for (const PromptJob& j : jobs_) {
    if (outcomes_[j.index].prompt().empty()) {
      ASSIGN_OR_RETURN(std::optional<proto::PromptOutcome> stored, store_.load_outcome(j.index));
      if (!stored) continue;  // failed: the store says why (evosearch status)
      outcomes_[j.index] = std::move(*stored);
    }
    all.push_back(outcomes_[j.index]);
  }
  RETURN_IF_ERROR(publish_answers(all));
  return all;
}

Status JobLoop::claim_prompts() {
  // Suspects run alone: nothing new starts until they have.
  if (stop_requested() || active_.size() >= in_flight_limit() || solo_ || !suspects_.empty()) return Status::Ok();
  if (suite_shares_) RETURN_IF_ERROR(unpark());  // parked prompts first: their leases are held already
  if (active_.size() >= in_flight_limit() || solo_ || !suspects_.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(const std::vector<proto::Lease> leases,
                   store_.claim(options_.owner, static_cast<int>(in_flight_limit() - active_.size()), options_.lease_seconds));
  for (const proto::Lease& lease : leases) {
    if (lease.prompt() >= jobs_.size()) return Internal("the job store handed out prompt " + std::to_string(lease.prompt()) + ", beyond the suite");
    RETURN_IF_ERROR(begin(lease));
  }
  return Status::Ok();
}

// A claimed prompt: done already (a run that died between storing the outcome and marking it),
// resumed from its checkpoint, or started from the beginning.
Status JobLoop::begin(const proto::Lease& lease) {
  PromptJob& j = jobs_[lease.prompt()];
  j.lease = lease;
  j.draining = false;
  j.finished = false;
  keeper_.keep(lease);
  ASSIGN_OR_RETURN(std::optional<proto::PromptOutcome> outcome, store_.load_outcome(j.index));
  if (outcome) {
    const Status saved = store_.save_outcome(lease, *outcome);
    if (!saved.ok() && !lease_lost(saved)) return saved;
    keeper_.drop(j.index);
    j.lease.reset();
    return Status::Ok();
  }
  if (charged_.count(j.index)) {  // it failed alone in this run before: it runs alone again
    suspects_.push_back(j.index);
    return Status::Ok();
  }
  return charged_or(j, resume(j));
}

Status JobLoop::resume(PromptJob& j) {
  j.history.clear();
  j.committed_shards.clear();
  ASSIGN_OR_RETURN(const std::optional<proto::CheckpointRecord> checkpoint, store_.load_checkpoint(j.index));
  // A fresh searcher: this run may have held the prompt before and lost it. With a suite budget,
  // past its kept generations: the plan of its share, once the shares are known.
  if (suite_budget() && checkpoint && checkpoint->generation() >= suite_barrier(spec_.search())) {
    if (!suite_shares_) {
      j.parked = true;  // the shares are computed when this run is idle (unpark)
      return Status::Ok();
    }
    const int64_t share = (*suite_shares_)[j.index];
    if (share <= 0) return Internal("prompt " + std::to_string(j.index) + " has no suite budget share");
    ASSIGN_OR_RETURN(j.searcher, make_suite_searcher(spec_.search(), options_.steps, SearchKey{spec_.seed(), j.key}, share));
  } else {
    ASSIGN_OR_RETURN(j.searcher, make_searcher(spec_.search(), options_.steps, SearchKey{spec_.seed(), j.key}));
  }
  RETURN_IF_ERROR(executor_.add_prompt(j.index, j.entry.text, j.key));
  if (checkpoint) {
    RETURN_IF_ERROR(j.searcher->restore(checkpoint->snapshot()).with_context("prompt " + std::to_string(j.index)));
    RETURN_IF_ERROR(executor_.load_shards(j.index, spec_.output(), checkpoint->shards()));
    // A shard listed for one live state may hold others that are no longer live: free those.
    RETURN_IF_ERROR(executor_.release_all_but(j.index, j.searcher->live_states()));
    j.committed_shards.assign(checkpoint->shards().begin(), checkpoint->shards().end());
    j.history.assign(checkpoint->history().begin(), checkpoint->history().end());
    spdlog::info("prompt {} '{}': resuming at generation {}/{}", j.index, j.entry.text, j.searcher->generation(),
                 j.searcher->generation_count());
    RETURN_IF_ERROR(store_.log_event("run " + options_.owner + " resumed prompt " + std::to_string(j.index) +
                                     " at generation " + std::to_string(j.searcher->generation())));
  }
  if (j.searcher->done()) return finish(j);  // a suite budget share with no later generation
  active_.push_back(&j);
  return start_generation(j);
}

Status JobLoop::park(PromptJob& j) {
  spdlog::info("prompt {} '{}': first two evolution generations done; it waits for every prompt's before the suite "
               "budget is shared out", j.index, j.entry.text);
  j.parked = true;  // resumed from the checkpoint just committed by unpark(), with its share
  return executor_.release_prompt(j.index);
}

Status JobLoop::try_share_suite_budget() {
  ASSIGN_OR_RETURN(const std::vector<proto::PromptRecord> records, store_.prompts());
  const uint32_t barrier = suite_barrier(spec_.search());
  for (const proto::PromptRecord& r : records) {
    if (r.status() == proto::PROMPT_DONE || r.status() == proto::PROMPT_FAILED || r.generation() >= barrier) continue;
    // A record can lag its checkpoint (the file store writes the checkpoint, then the record: a
    // run killed between the two), never lead it: the checkpoint decides.
    ASSIGN_OR_RETURN(const std::optional<proto::CheckpointRecord> checkpoint, store_.load_checkpoint(r.prompt()));
    if (!checkpoint || checkpoint->generation() < barrier) return Status::Ok();  // not there yet
  }
  // Each prompt's climb: how much its best rose in its last kept generation (best_so_far after
  // each searcher generation; evosearch-lookahead's roll-outs are its odd ones).
  const uint32_t per_generation = barrier / kSuiteKeptGenerations;  // searcher generations per evolution generation
  const uint32_t before = barrier - per_generation - 1;               // the one before the last kept generation
  std::vector<std::optional<double>> climb(jobs_.size());
  for (uint32_t p = 0; p < jobs_.size(); ++p) {
    // The checkpoint first: a prompt that finishes meanwhile drops it as its outcome is saved
    // (one step), so the outcome read after it is there.
    std::vector<proto::GenerationRecord> history;
    ASSIGN_OR_RETURN(const std::optional<proto::CheckpointRecord> checkpoint, store_.load_checkpoint(p));
    if (checkpoint) {
      history.assign(checkpoint->history().begin(), checkpoint->history().end());
    } else {
      ASSIGN_OR_RETURN(const std::optional<proto::PromptOutcome> outcome, store_.load_outcome(p));
      if (outcome) history.assign(outcome->generations().begin(), outcome->generations().end());
    }
    if (history.size() < barrier) continue;  // failed before: no share
    climb[p] = history[barrier - 1].best_so_far() - history[before].best_so_far();
  }
  ASSIGN_OR_RETURN(const int64_t head_cost, suite_head_cost(spec_.search(), options_.steps));
  std::vector<int64_t> shares = share_suite_budget(spec_.search().suite_model_calls_budget(), head_cost, climb);
  int64_t least = 0, most = 0, total = 0;
  for (int64_t s : shares) {
    if (s <= 0) continue;
    least = least == 0 ? s : std::min(least, s);
    most = std::max(most, s);
    total += s;
  }
  const std::string what = "suite budget " + std::to_string(spec_.search().suite_model_calls_budget()) +
                           ": every prompt ran its first two evolution generations (" + std::to_string(head_cost) +
                           " model calls each); shares from " + std::to_string(least) + " to " + std::to_string(most) +
                           " model calls per prompt, " + std::to_string(total) + " in all";
  spdlog::info("{}", what);
  RETURN_IF_ERROR(store_.log_event("run " + options_.owner + ": " + what));
  suite_shares_ = std::move(shares);
  return Status::Ok();
}

Status JobLoop::unpark() {
  if (!suite_shares_) RETURN_IF_ERROR(try_share_suite_budget());
  if (!suite_shares_) return Status::Ok();
  for (PromptJob& j : jobs_) {
    if (!j.parked) continue;
    if (active_.size() >= in_flight_limit() || solo_ || !suspects_.empty() || stop_requested()) break;
    j.parked = false;
    if (!j.lease) continue;  // lost meanwhile
    RETURN_IF_ERROR(charged_or(j, resume(j)));
  }
  return Status::Ok();
}

Status JobLoop::start_generation(PromptJob& j) {
  {
    Stopwatch watch(seconds_.selection);
    j.in_flight = j.searcher->next_generation();
  }
  j.collected.clear();
  j.submitted = Clock::now();
  std::vector<proto::PromptRolloutTask> tasks;
  for (const auto& t : j.in_flight) {
    proto::PromptRolloutTask& task = tasks.emplace_back();
    task.set_prompt(j.index);
    *task.mutable_task() = t;
  }
  return executor_.submit(tasks);
}

Status JobLoop::complete_generation(PromptJob& j) {
  if (j.draining) {  // the lease was lost meanwhile: another coordinator has the prompt now
    j.in_flight.clear();
    j.collected.clear();
    return executor_.release_prompt(j.index);
  }
  const uint32_t generation = j.searcher->generation();
  proto::GenerationRecord record;
  record.set_generation(generation);
  record.set_start_step(j.in_flight.front().start_step());
  record.set_end_step(j.in_flight.front().end_step());
  std::vector<proto::RolloutResult> ordered = j.collected;
  std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.candidate() < b.candidate(); });
  int64_t nfe = 0;
  for (const proto::RolloutResult& r : ordered) {
    record.add_fitness(r.fitness());
    nfe += r.nfe();
  }
  {
    Stopwatch watch(seconds_.selection);
    RETURN_IF_ERROR(j.searcher->on_results(j.collected).with_context("prompt " + std::to_string(j.index)));
  }
  if (j.searcher->best().found()) record.set_best_so_far(j.searcher->best().fitness());
  if (spec_.generation_grids()) {  // pending until the checkpoint or outcome naming it commits
    RETURN_IF_ERROR(answers_.write_grid(j.index, j.entry.text, j.in_flight, j.lease->token(), record));
  }
  j.history.push_back(record);
  RETURN_IF_ERROR(executor_.release_all_but(j.index, j.searcher->live_states()));
  RETURN_IF_ERROR(progress_.generation_finished(j.index, generation + 1, record.best_so_far(), nfe,
                                                std::chrono::duration<double>(Clock::now() - j.submitted).count()));
  j.in_flight.clear();
  j.collected.clear();
  if (j.searcher->done()) return finish(j);
  RETURN_IF_ERROR(checkpoint(j));
  if (!j.lease) return Status::Ok();  // lost while checkpointing
  if (suite_budget() && generation + 1 == suite_barrier(spec_.search())) return park(j);
  return stop_requested() ? Status::Ok() : start_generation(j);
}

Status JobLoop::checkpoint(PromptJob& j) {
  Stopwatch watch(seconds_.checkpoint);
  proto::CheckpointRecord c;
  c.set_prompt(j.index);
  c.set_generation(j.searcher->generation());
  c.set_generation_count(j.searcher->generation_count());
  *c.mutable_snapshot() = j.searcher->snapshot();
  for (const auto& h : j.history) *c.add_history() = h;
  // Only live states that no committed shard holds are written; the shards holding the others
  // are listed again (incremental checkpoints, common/shard_files.h).
  ShardPlan plan = plan_shards(j.committed_shards, j.searcher->live_states());
  std::vector<proto::ShardRef> written;
  if (!plan.unwritten.empty()) {
    ShardTarget target{spec_.output(), c.generation(), j.lease->token()};
    ASSIGN_OR_RETURN(written, executor_.write_shards(j.index, plan.unwritten, target));
  }
  std::vector<proto::ShardRef> shards = std::move(plan.kept);
  shards.insert(shards.end(), written.begin(), written.end());
  for (const proto::ShardRef& s : shards) *c.add_shards() = s;
  const Status committed = store_.commit_checkpoint(*j.lease, c);
  if (lease_lost(committed)) {
    remove_shards(spec_.output(), written);  // only this run's new files: the kept ones belong to the newer owner's record
    answers_.discard_grid(j.history.back());
    return abandon(j);
  }
  RETURN_IF_ERROR(committed);
  RETURN_IF_ERROR(answers_.publish_grid(j.history.back()));
  remove_shards(spec_.output(), plan.dropped);  // never before the record that stops listing them commits
  j.committed_shards = std::move(shards);
  return Status::Ok();
}

Status JobLoop::finish(PromptJob& j) {
  const proto::BestSample& best = j.searcher->best();
  ASSIGN_OR_RETURN(const std::vector<double> scores, executor_.score(j.index, best.state()));
  if (static_cast<int>(scores.size()) != manifest_.rewards_size()) return Internal("scoring the answer gave the wrong number of rewards");
  proto::PromptOutcome o;
  // Under this lease's pending names, published once the fenced save passed (answer_writer.h).
  RETURN_IF_ERROR(answers_.write_answer(j.index, j.entry.text, best.state(), j.lease->token(), o));
  o.set_index(j.index);
  o.set_prompt(j.entry.text);
  o.set_category(j.entry.category);
  const proto::Accounting& a = j.searcher->accounting();
  o.set_nfe(static_cast<int32_t>(a.nfe()));
  o.set_reward_calls(static_cast<int32_t>(a.reward_calls()));
  o.set_decode_calls(static_cast<int32_t>(a.decode_calls()));
  for (int r = 0; r < manifest_.rewards_size(); ++r) (*o.mutable_scores())[manifest_.rewards(r).name()] = scores[r];
  o.set_generation(best.state().generation());
  o.set_candidate(best.state().candidate());
  for (const auto& h : j.history) *o.add_generations() = h;
  // Saving the outcome ends the lease: the keeper stops renewing it first, or a renewal racing
  // the save would find the prompt done and report the lease lost to another coordinator.
  keeper_.drop(j.index);
  const Status saved = store_.save_outcome(*j.lease, o);
  if (lease_lost(saved)) {  // another run's outcome names the files: this run's bytes may differ, and go
    answers_.discard(o, j.lease->token());
    return abandon(j);
  }
  RETURN_IF_ERROR(saved);
  RETURN_IF_ERROR(answers_.publish(o));
  remove_shards(spec_.output(), j.committed_shards);
  j.committed_shards.clear();
  j.lease.reset();
  j.finished = true;
  outcomes_[j.index] = o;
  RETURN_IF_ERROR(executor_.release_prompt(j.index));
  log_progress(true);
  return store_.log_event("run " + options_.owner + " finished prompt " + std::to_string(j.index));
}

// Whoever ends the job makes every answer's files the ones its outcome records: a run that died
// between saving an outcome and publishing its files left them pending. A file that cannot be
// made to match is reported (log and event log), not fatal: the results still name it.
Status JobLoop::publish_answers(const std::vector<proto::PromptOutcome>& outcomes) {
  bool all_published = true;
  for (const proto::PromptOutcome& o : outcomes) {
    const Status published = answers_.publish(o);
    if (published.ok()) continue;
    all_published = false;
    spdlog::warn("prompt {}: {}", o.index(), published.message());
    RETURN_IF_ERROR(store_.log_event("run " + options_.owner + ": prompt " + std::to_string(o.index()) + ": " + published.message()));
  }
  if (!all_published) return Status::Ok();
  std::error_code ec;  // the job is complete: what is still pending is a lost lease's leftovers
  std::filesystem::remove_all(std::filesystem::path(spec_.output()) / "state" / "pending", ec);
  return Status::Ok();
}

Status JobLoop::abandon(PromptJob& j) {
  spdlog::warn("prompt {}: this run's lease was lost; it stops working on it", j.index);
  keeper_.drop(j.index);
  j.lease.reset();
  j.parked = false;
  if (!j.in_flight.empty()) {
    j.draining = true;  // its results still come back; then its states are freed
    return Status::Ok();
  }
  active_.erase(std::remove(active_.begin(), active_.end(), &j), active_.end());
  return executor_.release_prompt(j.index);
}

Status JobLoop::batch_failed(const Status& error) {
  // The executor dropped every task of the failed batch's prompts (in process: every prompt with
  // a generation in flight). One given up already (an earlier failure of a batch it shared with
  // these) still counts: the batch was not this prompt's alone.
  const std::vector<uint32_t> in_batch = executor_.failed_prompts();
  std::vector<PromptJob*> held;
  for (uint32_t prompt : in_batch) {
    if (prompt >= jobs_.size()) return Internal("a failed batch with prompt " + std::to_string(prompt) + ", which is not in the suite");
    PromptJob& j = jobs_[prompt];
    if (j.in_flight.empty()) continue;
    if (j.lease) {
      held.push_back(&j);
    } else {
      RETURN_IF_ERROR(drop(j));  // draining: another coordinator has it
    }
  }
  if (in_batch.size() == 1 && held.size() == 1) return charge(*held.front(), error);
  if (held.empty()) return Status::Ok();
  spdlog::warn("a rollout batch of {} prompts failed ({}); each is retried alone, from its last checkpoint, before any "
               "is charged", in_batch.size(), error.message());
  for (PromptJob* j : held) {
    RETURN_IF_ERROR(drop(*j));
    suspects_.push_back(j->index);
  }
  return Status::Ok();
}

Status JobLoop::start_solo() {
  if (solo_ || !active_.empty() || stop_requested()) return Status::Ok();
  while (!suspects_.empty()) {
    PromptJob& j = jobs_[suspects_.front()];
    suspects_.pop_front();
    if (!j.lease) continue;  // lost meanwhile
    spdlog::info("prompt {} '{}': retried alone", j.index, j.entry.text);
    solo_ = &j;
    RETURN_IF_ERROR(charged_or(j, resume(j)));
    if (std::find(active_.begin(), active_.end(), &j) != active_.end()) return Status::Ok();
    solo_ = nullptr;  // charged at once (its encoder)
  }
  return Status::Ok();
}

Status JobLoop::charged_or(PromptJob& j, Status s) {
  if (s.code() != StatusCode::kModelError) return s;
  return charge(j, s);
}

Status JobLoop::charge(PromptJob& j, const Status& error) {
  if (!j.lease) return drop(j);  // lost meanwhile: its new holder decides
  const proto::Lease lease = *j.lease;
  ASSIGN_OR_RETURN(const std::vector<proto::PromptRecord> records, store_.prompts());
  if (j.index >= records.size()) return Internal("the job store has no record of prompt " + std::to_string(j.index));
  const uint32_t attempts = records[j.index].attempts();
  RETURN_IF_ERROR(drop(j));
  keeper_.drop(j.index);
  j.lease.reset();
  charged_.insert(j.index);
  const bool fails = static_cast<int64_t>(attempts) >= spec_.max_attempts();
  const std::string what = "prompt " + std::to_string(j.index) + " '" + j.entry.text + "': attempt " +
                           std::to_string(attempts) + " failed (max_attempts " + std::to_string(spec_.max_attempts()) +
                           "): " + error.message();
  const Status written = fails ? store_.mark_failed(lease, error.message()) : store_.release(lease);
  if (lease_lost(written)) return Status::Ok();  // another coordinator holds it now
  RETURN_IF_ERROR(written);
  if (fails) {
    spdlog::error("{}; the prompt is failed, the job goes on with the others", what);
  } else {
    spdlog::warn("{}; it is queued again", what);
  }
  return store_.log_event("run " + options_.owner + ": " + what + (fails ? "; failed" : "; queued again"));
}

Status JobLoop::drop(PromptJob& j) {
  j.in_flight.clear();
  j.collected.clear();
  j.draining = false;
  j.parked = false;
  if (solo_ == &j) solo_ = nullptr;
  active_.erase(std::remove(active_.begin(), active_.end(), &j), active_.end());
  return executor_.release_prompt(j.index);
}

void JobLoop::release_leases() {
  for (PromptJob& j : jobs_) {
    if (!j.lease) continue;
    keeper_.drop(j.index);
    (void)store_.release(*j.lease);  // best effort: an unreleased lease expires by itself
    j.lease.reset();
  }
}

StatusOr<bool> JobLoop::job_complete() {
  ASSIGN_OR_RETURN(const std::vector<proto::PromptRecord> prompts, store_.prompts());
  for (const proto::PromptRecord& p : prompts) {
    if (p.status() != proto::PROMPT_DONE && p.status() != proto::PROMPT_FAILED) return false;
  }
  return true;
}

void JobLoop::log_progress(bool now_anyway) {
  if (!now_anyway && !progress_.line_due()) return;
  size_t finished = 0;
  for (const PromptJob& j : jobs_) finished += j.finished;
  std::vector<PromptProgress> active;
  for (const PromptJob* j : active_) {
    active.push_back(PromptProgress{j->entry.text, j->searcher->generation(), j->searcher->generation_count(),
                                    j->searcher->best().fitness(), j->lease.has_value(), j->draining});
  }
  progress_.log(finished, active);
}

RunTotals JobLoop::totals() const {
  LoopSeconds loop = seconds_;
  loop.output = answers_.output_seconds();
  return progress_.totals(executor_, loop);
}

}  // namespace evosearch
