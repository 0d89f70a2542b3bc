// One coordinator's run of a job. It claims prompts from the job store (their leases kept alive
// by a LeaseKeeper), searches up to prompts_in_flight of them at once with a searcher each, and
// submits a prompt's next generation as soon as its previous one has every result, so
// generations of different prompts overlap on the executor. Every finished generation is
// checkpointed: the executor writes shards where the states are, then the checkpoint record is
// committed to the store, fenced by the prompt's lease; every answer is saved once, fenced too
// (and its files published only after: coordinator/answer_writer.h).
// The run ends when every prompt of the job is done or failed (it goes on claiming prompts that
// other coordinators abandon, once their leases expire), or at a stop signal, abandoning the
// generations in flight (they are redone on resume).
//
// Poison prompts. An error of a prompt's own (StatusCode::kModelError: its encoder, or a module
// that raises or gives NaN, infinite or ill-shaped output on its rollouts, decodes or scores)
// ends that prompt's try, not the run: once its claims (PromptRecord.attempts) reach the spec's
// max_attempts the prompt is marked failed with the error, else its lease is given back and it
// is claimed again, from its last checkpoint. A rollout batch mixes prompts, so a batch error with
// several prompts in it charges none of them: each is retried alone, from its last checkpoint to
// its end, one after another, and only a failure alone is charged (a prompt charged once by this
// run runs alone when claimed again). Every other error (out of memory, a lost worker, the job
// store, a stop signal) is the machine's and ends the run as before, charging nothing. The same
// holds on worker ranks: their errors come back with their codes (coordinator/distributed_executor.h).
//
// A budget for the whole suite (search.suite_model_calls_budget, coordinator/search/suite_budget.h):
// a prompt that finished its first two evolution generations is checkpointed and parked (its
// lease kept, its states freed) until every prompt of the job has; then the shares are computed
// from the stored generations (the same in every coordinator and on every resume) and each
// prompt goes on from its checkpoint with its own plan.
//
// The loop keeps claims, searchers, the executor and checkpoints; the pictures go through an
// AnswerWriter (coordinator/answer_writer.h), the progress lines, events and totals through a
// ProgressReporter (coordinator/progress_reporter.h). One thread: the caller's.
#pragma once

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "coordinator/answer_writer.h"
#include "coordinator/executor.h"
#include "coordinator/job_results.h"
#include "coordinator/lease_keeper.h"
#include "coordinator/progress_reporter.h"
#include "coordinator/search/searcher.h"
#include "evosearch/bundle.pb.h"
#include "evosearch/job.pb.h"
#include "jobs/job_store.h"
#include "jobs/prompt_suite.h"

namespace evosearch {

struct JobLoopOptions {
  std::string owner;          // this coordinator's name in the store ("host:pid:nonce")
  int steps = 50;             // the sampler's T
  double lease_seconds = 60;  // a claimed prompt's lease
  double poll_seconds = 1;    // how often an idle coordinator looks for prompts to take over
};

class JobLoop {
 public:
  JobLoop(const proto::JobSpec& spec, const proto::BundleManifest& manifest, JobLoopOptions options, Executor& executor,
         JobStore& store, LeaseKeeper& keeper);

  // Makes a searcher per prompt (validating the search spec before anything is written).
  Status add_prompts(const std::vector<PromptEntry>& suite);
  // Runs until the job is complete; returns every prompt's outcome in prompt order. Unavailable
  // when stopped by a signal (every prompt is checkpointed at its last finished generation).
  StatusOr<std::vector<proto::PromptOutcome>> run();
  // Gives back the leases this run still holds (after an error), best effort.
  void release_leases();
  RunTotals totals() const;
  // Prompts searched at once: the spec's prompts_in_flight, or max(8, 2 per worker).
  size_t in_flight_limit() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct PromptJob {
    uint32_t index = 0;
    PromptEntry entry;
    uint64_t key = 0;
    std::unique_ptr<Searcher> searcher;
    std::optional<proto::Lease> lease;                 // while this run holds the prompt
    std::vector<proto::RolloutTask> in_flight;         // the generation submitted
    std::vector<proto::RolloutResult> collected;       // its results so far
    Clock::time_point submitted;
    std::vector<proto::ShardRef> committed_shards;     // of the latest committed checkpoint
    std::vector<proto::GenerationRecord> history;
    bool draining = false;  // lease lost: let its generation in flight finish, then drop it
    bool finished = false;
    bool parked = false;    // suite budget: held, waiting for every prompt's kept generations
  };

  Status claim_prompts();
  Status begin(const proto::Lease& lease);
  // A held prompt from its checkpoint (or its start): a fresh searcher, its condition encoded,
  // its states loaded, its next generation submitted.
  Status resume(PromptJob& j);
  // A rollout batch failed with a model error (its prompts: the executor's failed_prompts()):
  // charged to its prompt when it held one, else every prompt in it is retried alone.
  Status batch_failed(const Status& error);
  // The next suspect, alone, once nothing else is active.
  Status start_solo();
  // `s` when it is not a model error; else the prompt is charged with it.
  Status charged_or(PromptJob& j, Status s);
  // An error of the prompt's own: failed when its claims reached max_attempts, else given back.
  Status charge(PromptJob& j, const Status& error);
  // Stops working on `j` in this run (its states freed, its generation in flight dropped).
  Status drop(PromptJob& j);
  Status start_generation(PromptJob& j);
  // Suite budget: `j` finished its kept generations (checkpointed): its states are freed and it
  // waits, lease held, for the shares. (No prompt gets there once they are known: they are
  // computed only when every prompt has.)
  bool suite_budget() const { return spec_.search().suite_model_calls_budget() > 0; }
  Status park(PromptJob& j);
  bool any_parked() const {
    return std::any_of(jobs_.begin(), jobs_.end(), [](const PromptJob& j) { return j.parked; });
  }
  // The shares, once every prompt of the job has its kept generations stored (else left unset).
  Status try_share_suite_budget();
  // Parked prompts resumed with their shares, up to the in-flight limit.
  Status unpark();
  Status complete_generation(PromptJob& j);
  Status checkpoint(PromptJob& j);
  Status finish(PromptJob& j);
  // At the end of the job: every outcome's files published, matching its digests.
  Status publish_answers(const std::vector<proto::PromptOutcome>& outcomes);
  // The lease is lost: no more writes for this prompt from this run.
  Status abandon(PromptJob& j);
  StatusOr<bool> job_complete();
  // The progress line: when one is due, or `now_anyway` (a prompt finished).
  void log_progress(bool now_anyway);

  const proto::JobSpec& spec_;
  const proto::BundleManifest& manifest_;
  const JobLoopOptions options_;
  Executor& executor_;
  JobStore& store_;
  LeaseKeeper& keeper_;
  std::vector<PromptJob> jobs_;
  std::vector<PromptJob*> active_;  // searching or draining
  std::deque<uint32_t> suspects_;    // held prompts of a failed mixed batch, waiting to run alone
  PromptJob* solo_ = nullptr;        // the suspect running alone (nothing else runs meanwhile)
  std::set<uint32_t> charged_;       // prompts this run charged: they run alone when claimed again
  std::optional<std::vector<int64_t>> suite_shares_;  // suite budget: each prompt's model calls, once known
  std::vector<proto::PromptOutcome> outcomes_;  // found by this run, by prompt
  AnswerWriter answers_;
  ProgressReporter progress_;
  LoopSeconds seconds_;  // output excepted: answers_ keeps that
};

}  // namespace evosearch
