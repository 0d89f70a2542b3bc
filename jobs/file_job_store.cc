// The file store: a job's records as files under <output>/state/, for one machine (several
// processes may share it; a shared file system is only as safe as its fcntl locks).
//
//   job.json                 JobRecord (protobuf JSON)
//   prompt-NNNNN.json        PromptRecord: status, owner, fencing token, lease expiry
//   prompt-NNNNN.ckpt        CheckpointRecord (sealed: binary protobuf with its SHA-256)
//   prompt-NNNNN.done        PromptOutcome (sealed)
//   progress/SSSSSSSS.jsonl  ProgressEvent per line, in segments of kSegmentEvents
//   events.log               timestamped lines
//   outputs.txt              files the job wrote, relative to the output folder, one per line
//   requests/<id>.json       RequestRecord: the answer of a changing call by its request id, kept
//                            kRequestMemorySeconds (by file time; older ones go at a later claim);
//                            written without fsync: only a retry by the same live process reads it
//   store.lock               every read-modify-write step holds an exclusive lock on it
//
// Records are replaced with write_file_atomic (write, fsync, rename). The two logs are appended
// (jobs/line_log.h): a crash can lose their last lines, never a record. The lock is an
// open-file-description lock (F_OFD_SETLKW): unlike a classic fcntl lock it also keeps two
// store objects of one process apart, and closing another descriptor of the file does not drop it.
#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "jobs/job_identity.h"
#include "jobs/job_store.h"
#include "jobs/line_log.h"
#include "jobs/store_common.h"
#include "common/unique_fd.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

constexpr size_t kSegmentEvents = 1000;
// Enough for the newest kProgressLimit events while the newest segment fills.
constexpr size_t kSegmentsKept = JobStore::kProgressLimit / kSegmentEvents + 1;

// Holds the store's exclusive lock for one read-modify-write step.
class StepLock {
 public:
  explicit StepLock(const fs::path& file) : fd_(open_lock_file(file)) {
    if (!fd_.valid()) {
      status_ = Internal("cannot open lock file " + file.string() + ": " + std::strerror(errno));
      return;
    }
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    while (::fcntl(fd_.get(), F_OFD_SETLKW, &lock) != 0) {
      if (errno != EINTR) {
        status_ = Internal("cannot lock " + file.string() + ": " + std::strerror(errno));
        return;
      }
    }
  }
  const Status& status() const { return status_; }

 private:
  static int open_lock_file(const fs::path& file) {
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    return ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  }

  UniqueFd fd_;
  Status status_;
};

class FileJobStore final : public store::StoreBase {
 public:
  FileJobStore(const std::string& output_dir, StoreClock clock)
      : StoreBase(std::move(clock)),
        state_(fs::path(output_dir) / "state"),
        progress_(state_ / "progress", kSegmentEvents, kSegmentsKept) {}

  std::string describe() const override { return state_.string(); }

  Status open(const proto::JobRecord& job, const std::vector<std::string>& prompt_texts, bool restart) override {
    StepLock lock(state_ / "store.lock");
    RETURN_IF_ERROR(lock.status());
    proto::JobRecord current = job;
    current.set_prompt_count(static_cast<uint32_t>(prompt_texts.size()));
    if (!restart) {
      auto stored = read_job();
      if (stored.ok()) {
        const std::string differences = job_differences(*stored, current);
        if (differences.empty()) return Status::Ok();
        ASSIGN_OR_RETURN(const bool progress, has_progress());
        if (progress) return store::different_job(describe(), differences);
        // No generation was ever committed: nothing to lose, the new record replaces the old
        // (a run that failed before its first generation must not block the corrected spec).
      }
      if (!stored.ok() && stored.status().code() != StatusCode::kNotFound) return stored.status();
    }
    // A new job, or a restart. Everything but the lock goes first: a folder without job.json
    // holds no job, whatever a crashed earlier create or restart left behind.
    RETURN_IF_ERROR(discard());
    const int64_t now = now_ms();
    for (uint32_t i = 0; i < prompt_texts.size(); ++i) {
      proto::PromptRecord p;
      p.set_prompt(i);
      p.set_text(prompt_texts[i]);
      p.set_status(proto::PROMPT_QUEUED);
      p.set_updated_unix_ms(now);
      RETURN_IF_ERROR(write_prompt(p));
    }
    current.set_status(proto::JOB_RUNNING);
    current.set_created_unix_ms(now);
    current.set_updated_unix_ms(now);
    return write_file_atomic(file("job.json"), store::to_json(current));  // last: the job exists from here on
  }

  StatusOr<std::vector<proto::Lease>> claim(const std::string& owner, int max, double lease_seconds,
                                            const RequestId& request) override {
    ASSIGN_OR_RETURN(const int64_t lease_ms, store::lease_ms(lease_seconds));
    ASSIGN_OR_RETURN(const proto::RequestRecord answer, step(request, [&](proto::RequestRecord& answer) -> Status {
      ASSIGN_OR_RETURN(const proto::JobRecord job, read_job());
      const int64_t now = now_ms();
      for (uint32_t i = 0; i < job.prompt_count() && answer.leases_size() < max; ++i) {
        ASSIGN_OR_RETURN(proto::PromptRecord p, read_prompt(i));
        const bool expired = p.status() == proto::PROMPT_RUNNING && p.lease_expires_unix_ms() <= now;
        if (p.status() != proto::PROMPT_QUEUED && !expired) continue;
        p.set_status(proto::PROMPT_RUNNING);
        p.set_owner(owner);
        p.set_token(p.token() + 1);
        p.set_attempts(p.attempts() + 1);
        p.set_lease_expires_unix_ms(now + lease_ms);
        p.set_updated_unix_ms(now);
        RETURN_IF_ERROR(write_prompt(p));
        proto::Lease& lease = *answer.add_leases();
        lease.set_prompt(i);
        lease.set_owner(owner);
        lease.set_token(p.token());
        lease.set_expires_unix_ms(p.lease_expires_unix_ms());
      }
      if (answer.leases_size() > 0) forget_old_requests();
      return Status::Ok();
    }));
    RETURN_IF_ERROR(status_of(answer));
    return std::vector<proto::Lease>(answer.leases().begin(), answer.leases().end());
  }

  Status renew(proto::Lease& lease, double lease_seconds, const RequestId& request) override {
    ASSIGN_OR_RETURN(const int64_t lease_ms, store::lease_ms(lease_seconds));
    ASSIGN_OR_RETURN(const proto::RequestRecord answer, step(request, [&](proto::RequestRecord& answer) {
      return fenced(lease, [&](proto::PromptRecord& p) {
        p.set_lease_expires_unix_ms(now_ms() + lease_ms);
        answer.set_expires_unix_ms(p.lease_expires_unix_ms());
        return Status::Ok();
      });
    }));
    if (answer.code() == 0) lease.set_expires_unix_ms(answer.expires_unix_ms());
    return status_of(answer);
  }

  Status release(const proto::Lease& lease, const RequestId& request) override {
    return answered(request, [&](proto::RequestRecord&) {
      return fenced(lease, [](proto::PromptRecord& p) {
        p.set_status(proto::PROMPT_QUEUED);
        p.set_lease_expires_unix_ms(0);
        return Status::Ok();
      });
    });
  }

  Status commit_checkpoint(const proto::Lease& lease, const proto::CheckpointRecord& checkpoint,
                           const RequestId& request) override {
    if (checkpoint.prompt() != lease.prompt()) return store::wrong_prompt("checkpoint", checkpoint.prompt(), lease);
    return answered(request, [&](proto::RequestRecord&) {
      return fenced(lease, [&](proto::PromptRecord& p) {
        RETURN_IF_ERROR(write_file_atomic(file(name(p.prompt(), ".ckpt")), store::seal(checkpoint)));
        p.set_generation(checkpoint.generation());
        p.set_generation_count(checkpoint.generation_count());
        if (checkpoint.snapshot().best().found()) p.set_best_fitness(checkpoint.snapshot().best().fitness());
        return Status::Ok();
      });
    });
  }

  Status save_outcome(const proto::Lease& lease, const proto::PromptOutcome& outcome, const RequestId& request) override {
    if (outcome.index() != lease.prompt()) return store::wrong_prompt("outcome", outcome.index(), lease);
    return answered(request, [&](proto::RequestRecord&) {
      const Status saved = fenced(lease, [&](proto::PromptRecord& p) {
        // The outcome before the record: a crash in between leaves a running prompt with an
        // outcome, which its next owner can mark done, rather than a done prompt without one.
        RETURN_IF_ERROR(write_file_atomic(file(name(p.prompt(), ".done")), store::seal(outcome)));
        p.set_status(proto::PROMPT_DONE);
        p.set_lease_expires_unix_ms(0);
        return Status::Ok();
      }, [&](const proto::PromptRecord& p) {
        std::error_code ec;
        fs::remove(file(name(p.prompt(), ".ckpt")), ec);
        return ec ? Internal("cannot remove " + file(name(p.prompt(), ".ckpt")) + ": " + ec.message()) : Status::Ok();
      });
      if (saved.ok() || saved.code() != StatusCode::kFailedPrecondition) return saved;
      // Saving again under the same lease succeeds (a retry after an error it did not see).
      auto record = read_prompt(lease.prompt());
      if (record.ok() && record->status() == proto::PROMPT_DONE && store::holds_token(lease, *record)) return Status::Ok();
      return saved;
    });
  }

  Status mark_failed(const proto::Lease& lease, const std::string& error, const RequestId& request) override {
    return answered(request, [&](proto::RequestRecord&) {
      return fenced(lease, [&](proto::PromptRecord& p) {
        p.set_status(proto::PROMPT_FAILED);
        p.set_last_error(error);
        p.set_lease_expires_unix_ms(0);
        return Status::Ok();
      });
    });
  }

  StatusOr<std::optional<proto::CheckpointRecord>> load_checkpoint(uint32_t prompt) override {
    const std::string path = file(name(prompt, ".ckpt"));
    auto bytes = read_file(path);
    if (!bytes.ok()) return missing_or(bytes.status(), std::optional<proto::CheckpointRecord>());
    proto::CheckpointRecord checkpoint;
    RETURN_IF_ERROR(store::unseal(*bytes, checkpoint, path));
    RETURN_IF_ERROR(store::check_prompt(checkpoint, prompt, path));
    return std::optional<proto::CheckpointRecord>(std::move(checkpoint));
  }

  StatusOr<std::optional<proto::PromptOutcome>> load_outcome(uint32_t prompt) override {
    const std::string path = file(name(prompt, ".done"));
    auto bytes = read_file(path);
    if (!bytes.ok()) return missing_or(bytes.status(), std::optional<proto::PromptOutcome>());
    proto::PromptOutcome outcome;
    RETURN_IF_ERROR(store::unseal(*bytes, outcome, path));
    RETURN_IF_ERROR(store::check_prompt(outcome, prompt, path));
    return std::optional<proto::PromptOutcome>(std::move(outcome));
  }

  Status append_progress(const proto::ProgressEvent& event, const RequestId& request) override {
    return answered(request, [&](proto::RequestRecord&) { return progress_.append(store::to_json(event)); });
  }

  StatusOr<std::vector<proto::ProgressEvent>> progress(size_t max) override {
    ASSIGN_OR_RETURN(const std::vector<SegmentedLog::Line> lines, progress_.newest(std::min(max, kProgressLimit)));
    std::vector<proto::ProgressEvent> events(lines.size());
    for (size_t i = 0; i < lines.size(); ++i) RETURN_IF_ERROR(store::from_json(lines[i].text, events[i], lines[i].where));
    return events;
  }

  Status log_event(const std::string& event, const RequestId& request) override {
    std::string line = store::iso_time(now_ms()) + " " + event;
    std::replace(line.begin(), line.end(), '\n', ' ');
    // Appending needs no lock (one write); remembering the request does.
    if (request.value.empty()) return append_line(state_ / "events.log", line);
    return answered(request, [&](proto::RequestRecord&) { return append_line(state_ / "events.log", line); });
  }

  Status add_outputs(const std::vector<std::string>& relative_paths, const RequestId& request) override {
    for (const std::string& path : relative_paths) RETURN_IF_ERROR(store::check_output_path(path));
    return answered(request, [&](proto::RequestRecord&) -> Status {
      ASSIGN_OR_RETURN(const std::vector<std::string> stored, outputs());
      std::set<std::string> all(stored.begin(), stored.end());
      const size_t before = all.size();
      all.insert(relative_paths.begin(), relative_paths.end());
      if (all.size() == before) return Status::Ok();
      std::string text;
      for (const std::string& path : all) text += path + "\n";
      return write_file_atomic(file("outputs.txt"), text);
    });
  }

  StatusOr<std::vector<std::string>> outputs() override {
    ASSIGN_OR_RETURN(const std::vector<std::string> paths, read_lines(state_ / "outputs.txt"));
    // --restart deletes these: an edited list must not reach outside the output folder.
    for (const std::string& path : paths) {
      const Status inside = store::check_output_path(path);
      if (!inside.ok()) return DataLoss(file("outputs.txt") + ": " + inside.message() + "; nothing was deleted");
    }
    return paths;
  }

 private:
  std::string file(const std::string& name) const { return (state_ / name).string(); }

  static std::string name(uint32_t prompt, const char* suffix) {
    char name[32];
    std::snprintf(name, sizeof name, "prompt-%05u", prompt);
    return name + std::string(suffix);
  }

  template <typename T>
  static StatusOr<T> missing_or(const Status& status, T empty) {
    if (status.code() == StatusCode::kNotFound) return empty;
    return status;
  }

  StatusOr<proto::JobRecord> read_job() override {
    auto text = read_file(file("job.json"));
    if (!text.ok()) {
      if (text.status().code() == StatusCode::kNotFound) return NotFound(describe() + " holds no job (job.json is missing)");
      return text.status();
    }
    proto::JobRecord job;
    RETURN_IF_ERROR(store::from_json(*text, job, file("job.json")));
    return job;
  }

  StatusOr<proto::PromptRecord> read_prompt(uint32_t prompt) const {
    const std::string path = file(name(prompt, ".json"));
    ASSIGN_OR_RETURN(const std::string text, read_file(path));
    proto::PromptRecord record;
    RETURN_IF_ERROR(store::from_json(text, record, path));
    if (record.prompt() != prompt) return DataLoss(path + ": holds the record of prompt " + std::to_string(record.prompt()));
    return record;
  }

  StatusOr<std::vector<proto::PromptRecord>> read_prompts(uint32_t count) override {
    std::vector<proto::PromptRecord> all;
    for (uint32_t i = 0; i < count; ++i) {
      ASSIGN_OR_RETURN(all.emplace_back(), read_prompt(i));
    }
    return all;
  }

  Status write_prompt(const proto::PromptRecord& record) const {
    return write_file_atomic(file(name(record.prompt(), ".json")), store::to_json(record));
  }

  // One read-modify-write step under the store's lock: `body` runs and fills in `answer` (leases,
  // expiry) and the status it returns goes into it too. With a request id, the answer is kept in
  // requests/<id>.json, written in the same step, and a repeat of the id gets it back without
  // `body` running again. An answer of Unavailable or Internal (a file that could not be written)
  // is not kept: the repeat runs again.
  template <typename Body>
  StatusOr<proto::RequestRecord> step(const RequestId& request, Body body) {
    RETURN_IF_ERROR(store::check_request(request));
    StepLock lock(state_ / "store.lock");
    RETURN_IF_ERROR(lock.status());
    const std::string kept = request.value.empty() ? "" : file("requests/" + request.value + ".json");
    proto::RequestRecord answer;
    if (!kept.empty()) {
      auto seen = read_file(kept);
      if (seen.ok()) {
        RETURN_IF_ERROR(store::from_json(*seen, answer, kept));
        return answer;
      }
      if (seen.status().code() != StatusCode::kNotFound) return seen.status();
    }
    const Status status = body(answer);
    answer.set_code(static_cast<int>(status.code()));
    answer.set_message(status.message());
    if (!kept.empty() && status.code() != StatusCode::kUnavailable && status.code() != StatusCode::kInternal) {
      RETURN_IF_ERROR(keep_answer(kept, store::to_json(answer)));
    }
    return answer;
  }

  // Writes a kept answer without fsync: only a retry by the process that made the call reads it,
  // and a crash ends that process (a new run makes new request ids). Under the lock.
  static Status keep_answer(const std::string& path, const std::string& json) {
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << json;
    out.close();
    if (!out) return Internal("cannot write " + path + ": " + std::strerror(errno));
    return Status::Ok();
  }

  // step() for a call that answers with a status only.
  template <typename Body>
  Status answered(const RequestId& request, Body body) {
    ASSIGN_OR_RETURN(const proto::RequestRecord answer, step(request, body));
    return status_of(answer);
  }

  static Status status_of(const proto::RequestRecord& answer) {
    if (answer.code() == 0) return Status::Ok();
    return Status(static_cast<StatusCode>(answer.code()), answer.message());
  }

  // Removes the answers kept longer than kRequestMemorySeconds (by the files' times). Under the lock.
  void forget_old_requests() const {
    std::error_code ec;
    const auto oldest = fs::file_time_type::clock::now() -
                        std::chrono::duration_cast<fs::file_time_type::duration>(std::chrono::duration<double>(kRequestMemorySeconds));
    for (const auto& entry : fs::directory_iterator(state_ / "requests", ec)) {
      std::error_code ignored;
      if (entry.last_write_time(ignored) < oldest) fs::remove(entry.path(), ignored);
    }
  }

  // One fenced change (under the lock: within step()): `change` edits the record (and may write
  // files) only while `lease` holds the prompt; the record is then written, and `after` runs.
  template <typename Change, typename After = Status (*)(const proto::PromptRecord&)>
  Status fenced(const proto::Lease& lease, Change change, After after = [](const proto::PromptRecord&) { return Status::Ok(); }) {
    ASSIGN_OR_RETURN(const proto::JobRecord job, read_job());
    if (lease.prompt() >= job.prompt_count()) {
      return InvalidArgument("lease of prompt " + std::to_string(lease.prompt()) + ", but the job has " +
                             std::to_string(job.prompt_count()) + " prompts");
    }
    ASSIGN_OR_RETURN(proto::PromptRecord p, read_prompt(lease.prompt()));
    if (!store::holds(lease, p)) return store::lease_lost(lease, p, describe());
    p.set_updated_unix_ms(now_ms());
    RETURN_IF_ERROR(change(p));
    RETURN_IF_ERROR(write_prompt(p));
    return after(p);
  }

  // Removes the job's state, job.json first, and nothing else: only names this store writes (the
  // records, checkpoints, outcomes, logs, and their temporaries), never a user's files.
  Status discard() const {
    std::error_code ec;
    fs::remove(file("job.json"), ec);
    if (ec) return Internal("cannot remove " + file("job.json") + ": " + ec.message());
    for (const auto& entry : fs::directory_iterator(state_, ec)) {
      if (!ours(entry.path().filename().string())) continue;
      fs::remove_all(entry.path(), ec);
      if (ec) return Internal("cannot remove " + entry.path().string() + ": " + ec.message());
    }
    if (ec) return Internal("cannot list " + state_.string() + ": " + ec.message());
    return Status::Ok();
  }

  // Whether any prompt has a committed checkpoint or outcome.
  StatusOr<bool> has_progress() const {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(state_, ec)) {
      const std::string extension = entry.path().extension().string();
      if (extension == ".ckpt" || extension == ".done") return true;
    }
    if (ec) return Internal("cannot list " + state_.string() + ": " + ec.message());
    return false;
  }

  static bool ours(const std::string& name) {
    const auto has_prefix = [&](const char* p) { return name.rfind(p, 0) == 0; };
    if (name == "progress" || name == "requests" || name == "events.log" || name == "outputs.txt" || has_prefix("job.json.tmp.")) return true;
    if (has_prefix("outputs.txt.tmp.")) return true;
    if (!has_prefix("prompt-") || name.size() < 12) return false;
    for (size_t i = 7; i < 12; ++i) {
      if (name[i] < '0' || name[i] > '9') return false;
    }
    const std::string rest = name.substr(12);
    for (const char* suffix : {".json", ".ckpt", ".done"}) {
      if (rest == suffix || rest.rfind(std::string(suffix) + ".tmp.", 0) == 0) return true;
    }
    return false;
  }

  const fs::path state_;
  SegmentedLog progress_;
};

}  // namespace

std::unique_ptr<JobStore> make_file_job_store(const std::string& output_dir, StoreClock clock) {
  return std::make_unique<FileJobStore>(output_dir, std::move(clock));
}

}  // namespace evosearch
