// Where a job keeps its state so that a killed, preempted or requeued run resumes, and so that
// several coordinators (Slurm array tasks, or the same command on two machines) can share one
// job: the job record (what decides its answers), one record per prompt (queued, running under a
// lease, done, failed), each prompt's latest committed checkpoint and its outcome, a bounded
// progress stream, an event log, and the list of files the job wrote.
//
// Two implementations pass one contract test suite (tests/job_store_contract_test.cc):
//   - the file store (the embedded default): files under <output>/state/, every write atomic
//     (write, fsync, rename), read-modify-write steps serialised by an fcntl lock on
//     <output>/state/store.lock, so several processes on one machine may share it;
//   - the Redis store (`redis://[:password@]host:port/db`): every key of a job shares one hash
//     tag (one slot, so Redis Cluster works), every multi-key step is one Lua script.
//
// Leases and fencing: a coordinator claims prompts with a lease it renews. Each claim gives the
// prompt a new fencing token; every write for a prompt (checkpoint, outcome, failure) names the
// lease and is refused, in the same atomic step, unless the prompt is still running under that
// owner and token. A coordinator that wakes up after its lease expired and another claimed the
// prompt can therefore never overwrite anything.
//
// Errors: Unavailable when the store cannot be reached (the caller retries with backoff),
// FailedPrecondition for a lost lease or a job with different inputs, DataLoss for a record
// that does not parse, NotFound for a job that was never opened.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "evosearch/job.pb.h"
#include "evosearch/job_records.pb.h"

namespace evosearch {

// Names one logical call that changes a job store, the same on every retry of it (see JobStore).
struct RequestId {
  std::string value;  // empty: not remembered; otherwise letters, digits, '-' and '_' only
};

class JobStore {
 public:
  // How long a store remembers the answer of a call by its request id: longer than any retry of
  // it lasts (the retrying layer gives up after --store-timeout, which must stay below this).
  static constexpr double kRequestMemorySeconds = 3600;

  virtual ~JobStore() = default;

  // Where the store is, for messages: "<folder>/state" or "redis://host:port/db job NAME"
  // (never a password).
  virtual std::string describe() const = 0;

  // Creates the job (every prompt queued) or binds to the stored job of the same name (so a
  // repeat binds to the job the first try created). A stored job whose record differs (spec
  // fields, input digests, prompt count) is refused naming every difference, unless `restart`:
  // then its state (records, checkpoints, outcomes, progress, events) is discarded first. A stored job without any committed checkpoint or outcome is
  // replaced by the new record (there is nothing to lose). The output files of a restarted job are the caller's to delete
  // (see outputs()), before calling open.
  virtual Status open(const proto::JobRecord& job, const std::vector<std::string>& prompt_texts, bool restart) = 0;
  virtual StatusOr<proto::JobRecord> job() = 0;
  virtual StatusOr<std::vector<proto::PromptRecord>> prompts() = 0;

  // Every call below that changes the store comes in two forms: without a request id (what
  // callers use) and with one (what stores implement). A request id names one logical call, the
  // same on each of its retries (RetryingJobStore makes one per call): the store remembers the
  // answer of each named call for kRequestMemorySeconds, in the same atomic step that runs it, and
  // answers a repeat with it without running the call again. So a retry after a reply that was lost
  // (a timeout after the server ran the call) gets the leases the first try claimed, stores an
  // event once, and reports a release or failure that landed as done. An empty id is not
  // remembered: every call runs.

  // Claims up to `max` prompts for `owner`, lowest index first: queued ones, and running ones
  // whose lease has expired (their owner is presumed dead). Each claimed prompt becomes running,
  // gets token + 1 and attempts + 1. Atomic: two owners never get the same prompt.
  StatusOr<std::vector<proto::Lease>> claim(const std::string& owner, int max, double lease_seconds) {
    return claim(owner, max, lease_seconds, RequestId{});
  }
  virtual StatusOr<std::vector<proto::Lease>> claim(const std::string& owner, int max, double lease_seconds,
                                                    const RequestId& request) = 0;
  // Extends `lease` to now + lease_seconds (updating its expiry). FailedPrecondition ("lease
  // lost") when the prompt is no longer running under this owner and token.
  Status renew(proto::Lease& lease, double lease_seconds) { return renew(lease, lease_seconds, RequestId{}); }
  virtual Status renew(proto::Lease& lease, double lease_seconds, const RequestId& request) = 0;
  // Gives a running prompt back unfinished: queued again, keeping its checkpoint. Fenced.
  Status release(const proto::Lease& lease) { return release(lease, RequestId{}); }
  virtual Status release(const proto::Lease& lease, const RequestId& request) = 0;

  // Fenced writes. Committing a checkpoint also sets the prompt record's generation,
  // generation_count and best_fitness (from the snapshot's best, once found). Saving the outcome
  // marks the prompt done and drops its checkpoint record.
  // Failing marks it failed with `error` (claims skip failed prompts).
  Status commit_checkpoint(const proto::Lease& lease, const proto::CheckpointRecord& checkpoint) {
    return commit_checkpoint(lease, checkpoint, RequestId{});
  }
  virtual Status commit_checkpoint(const proto::Lease& lease, const proto::CheckpointRecord& checkpoint,
                                   const RequestId& request) = 0;
  Status save_outcome(const proto::Lease& lease, const proto::PromptOutcome& outcome) {
    return save_outcome(lease, outcome, RequestId{});
  }
  virtual Status save_outcome(const proto::Lease& lease, const proto::PromptOutcome& outcome, const RequestId& request) = 0;
  Status mark_failed(const proto::Lease& lease, const std::string& error) { return mark_failed(lease, error, RequestId{}); }
  virtual Status mark_failed(const proto::Lease& lease, const std::string& error, const RequestId& request) = 0;

  virtual StatusOr<std::optional<proto::CheckpointRecord>> load_checkpoint(uint32_t prompt) = 0;
  virtual StatusOr<std::optional<proto::PromptOutcome>> load_outcome(uint32_t prompt) = 0;

  // The progress stream keeps the newest `kProgressLimit` events; progress() returns up to
  // `max` of the newest, oldest first.
  static constexpr size_t kProgressLimit = 10000;
  Status append_progress(const proto::ProgressEvent& event) { return append_progress(event, RequestId{}); }
  virtual Status append_progress(const proto::ProgressEvent& event, const RequestId& request) = 0;
  virtual StatusOr<std::vector<proto::ProgressEvent>> progress(size_t max) = 0;

  // A line for the job's event log (timestamped by the store).
  Status log_event(const std::string& event) { return log_event(event, RequestId{}); }
  virtual Status log_event(const std::string& event, const RequestId& request) = 0;

  // Files the job wrote, relative to the output folder: --restart deletes these and nothing else.
  Status add_outputs(const std::vector<std::string>& relative_paths) { return add_outputs(relative_paths, RequestId{}); }
  virtual Status add_outputs(const std::vector<std::string>& relative_paths, const RequestId& request) = 0;
  virtual StatusOr<std::vector<std::string>> outputs() = 0;
};

// The time a store reads, in unix milliseconds; empty means the system clock. Tests pass a clock
// they advance, so a lease expires when the test says. The file store reads it for lease expiry,
// record times and event-log stamps; the Redis store decides lease expiry and record times by the
// server's TIME (so the coordinators' clocks do not matter) and reads it for event-log stamps only.
using StoreClock = std::function<int64_t()>;

// The file store under <output_dir>/state.
std::unique_ptr<JobStore> make_file_job_store(const std::string& output_dir, StoreClock clock = {});

// "" or "file" -> the file store in `output_dir`; "redis://[:password@]host[:port][/db]" -> the
// Redis store for job `job_name` (the password may also come from REDISCLI_AUTH). InvalidArgument
// names the malformed part of the URL; a build without hiredis says so.
StatusOr<std::unique_ptr<JobStore>> open_job_store(const std::string& url, const std::string& output_dir,
                                                   const std::string& job_name, StoreClock clock = {});

}  // namespace evosearch
