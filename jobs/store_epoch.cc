#include "jobs/store_epoch.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "common/atomic_file.h"
#include "common/unique_fd.h"
#include "jobs/store_common.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

// state/store-epoch: which job of which store this folder holds.
struct Marker {
  std::string epoch;  // the job record's creation time in the store, unix ms
  std::string store;  // where the job was kept (JobStore::describe()), for messages
};

// What the folder marked for one epoch.
struct Marks {
  std::map<uint32_t, uint64_t> tokens;  // prompt -> the highest token marked used
  std::set<uint32_t> done;              // prompts whose outcome the store acknowledged
};

std::string epoch_of(const proto::JobRecord& job) { return std::to_string(job.created_unix_ms()); }

std::string epoch_time(const std::string& epoch) { return store::iso_time(std::strtoll(epoch.c_str(), nullptr, 10)); }

std::string token_name(uint32_t prompt, uint64_t token) {
  return "p" + std::to_string(prompt) + ".t" + std::to_string(token);
}
std::string done_name(uint32_t prompt) { return "p" + std::to_string(prompt) + ".done"; }

// "3, 5 and 7"; past eight items, "and N more".
std::string listed(const std::vector<std::string>& items) {
  std::string text;
  const size_t shown = std::min<size_t>(items.size(), 8);
  for (size_t i = 0; i < shown; ++i) {
    text += (i == 0 ? "" : i + 1 == shown && shown == items.size() ? " and " : ", ") + items[i];
  }
  if (shown < items.size()) text += " and " + std::to_string(items.size() - shown) + " more";
  return text;
}

// Creates `path` holding `text`, durably (the file and its folder fsynced) before the caller acts
// on what it marks. With `exclusive`, false when the file exists already.
StatusOr<bool> create_mark(const fs::path& path, const std::string& text, bool exclusive) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return Internal("cannot create " + path.parent_path().string() + ": " + ec.message());
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC), 0644));
  if (!fd.valid()) {
    if (exclusive && errno == EEXIST) return false;
    return Internal("cannot create " + path.string() + ": " + std::strerror(errno));
  }
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) || ::fsync(fd.get()) != 0 ||
      fd.close() != 0) {
    return Internal("cannot write " + path.string() + ": " + std::strerror(errno));
  }
  UniqueFd folder(::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!folder.valid() || ::fsync(folder.get()) != 0) {
    return Internal("cannot fsync " + path.parent_path().string() + ": " + std::strerror(errno));
  }
  return true;
}

StatusOr<std::optional<Marker>> read_marker(const std::string& path) {
  auto text = read_file(path);
  if (!text.ok() && text.status().code() == StatusCode::kNotFound) return std::optional<Marker>();
  RETURN_IF_ERROR(text.status());
  Marker marker;
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    const size_t space = line.find(' ');
    const std::string key = line.substr(0, space), value = space == std::string::npos ? "" : line.substr(space + 1);
    if (key == "epoch") marker.epoch = value;
    if (key == "store") marker.store = value;
  }
  if (marker.epoch.empty()) return DataLoss(path + " names no epoch; run with --restart to redo the job");
  return std::optional<Marker>(std::move(marker));
}

// A decimal number filling `text`; false otherwise.
bool whole_number(const std::string& text, unsigned long long& value) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 19) return false;
  value = std::strtoull(text.c_str(), nullptr, 10);
  return true;
}

StatusOr<Marks> read_marks(const fs::path& folder) {
  Marks marks;
  std::error_code ec;
  if (!fs::exists(folder, ec)) return marks;
  for (auto it = fs::directory_iterator(folder, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const size_t dot = name.find('.');
    unsigned long long prompt = 0, token = 0;
    if (name.empty() || name[0] != 'p' || dot == std::string::npos || !whole_number(name.substr(1, dot - 1), prompt) ||
        prompt > UINT32_MAX) {
      continue;  // not a mark
    }
    const std::string kind = name.substr(dot + 1);
    if (kind == "done") {
      marks.done.insert(static_cast<uint32_t>(prompt));
    } else if (kind.size() > 1 && kind[0] == 't' && whole_number(kind.substr(1), token)) {
      uint64_t& highest = marks.tokens[static_cast<uint32_t>(prompt)];
      highest = std::max<uint64_t>(highest, token);
    }
  }
  if (ec) return Internal("cannot list " + folder.string() + ": " + ec.message());
  return marks;
}

std::string counted(size_t n, const char* one, const char* many) { return std::to_string(n) + " " + (n == 1 ? one : many); }

class EpochCheckedJobStore final : public JobStore {
 public:
  EpochCheckedJobStore(std::unique_ptr<JobStore> store, std::string output_dir)
      : store_(std::move(store)),
        marker_path_((fs::path(output_dir) / "state" / "store-epoch").string()),
        marks_root_(fs::path(output_dir) / "state" / "store-marks") {}

  std::string describe() const override { return store_->describe(); }

  Status open(const proto::JobRecord& job, const std::vector<std::string>& prompt_texts, bool restart) override {
    if (!restart) RETURN_IF_ERROR(check_before_open());
    RETURN_IF_ERROR(store_->open(job, prompt_texts, restart));
    return adopt(restart);
  }
  StatusOr<proto::JobRecord> job() override { return translated(store_->job()); }
  StatusOr<std::vector<proto::PromptRecord>> prompts() override { return translated(store_->prompts()); }

  StatusOr<std::vector<proto::Lease>> claim(const std::string& owner, int max, double lease_seconds,
                                            const RequestId& request) override {
    auto leases = translated(store_->claim(owner, max, lease_seconds, request));
    if (leases.ok()) RETURN_IF_ERROR(check_claimed(*leases));
    return leases;
  }
  Status renew(proto::Lease& lease, double lease_seconds, const RequestId& request) override {
    return translated(store_->renew(lease, lease_seconds, request));
  }
  Status release(const proto::Lease& lease, const RequestId& request) override {
    return translated(store_->release(lease, request));
  }
  Status commit_checkpoint(const proto::Lease& lease, const proto::CheckpointRecord& checkpoint,
                           const RequestId& request) override {
    return translated(store_->commit_checkpoint(lease, checkpoint, request));
  }
  Status save_outcome(const proto::Lease& lease, const proto::PromptOutcome& outcome, const RequestId& request) override {
    const Status saved = store_->save_outcome(lease, outcome, request);
    if (saved.ok()) return mark_done(lease.prompt());  // before its files are published
    return translated(saved);
  }
  Status mark_failed(const proto::Lease& lease, const std::string& error, const RequestId& request) override {
    return translated(store_->mark_failed(lease, error, request));
  }
  StatusOr<std::optional<proto::CheckpointRecord>> load_checkpoint(uint32_t prompt) override {
    return translated(store_->load_checkpoint(prompt));
  }
  StatusOr<std::optional<proto::PromptOutcome>> load_outcome(uint32_t prompt) override {
    return translated(store_->load_outcome(prompt));
  }
  Status append_progress(const proto::ProgressEvent& event, const RequestId& request) override {
    return translated(store_->append_progress(event, request));
  }
  StatusOr<std::vector<proto::ProgressEvent>> progress(size_t max) override { return translated(store_->progress(max)); }
  Status log_event(const std::string& event, const RequestId& request) override {
    return translated(store_->log_event(event, request));
  }
  Status add_outputs(const std::vector<std::string>& relative_paths, const RequestId& request) override {
    return translated(store_->add_outputs(relative_paths, request));
  }
  // NotFound (no job) as it is: --restart asks before opening, and finds nothing to delete.
  StatusOr<std::vector<std::string>> outputs() override { return store_->outputs(); }

 private:
  // The folder's epoch: the one this object adopted, else the marker's (the lease keeper's store
  // never opens the job).
  StatusOr<std::optional<Marker>> bound() {
    if (!marker_) {
      ASSIGN_OR_RETURN(marker_, read_marker(marker_path_));
    }
    return marker_;
  }

  Status check_before_open() {
    ASSIGN_OR_RETURN(const std::optional<Marker> marker, read_marker(marker_path_));
    if (!marker) return Status::Ok();  // a new job, or one that ran before these checks
    // The marks first: they only grow, and every one of them was in the store before it was made.
    ASSIGN_OR_RETURN(const Marks marks, read_marks(marks_root_ / marker->epoch));
    auto stored = store_->job();
    if (!stored.ok() && stored.status().code() == StatusCode::kNotFound) return lost_job(*marker, marks);
    RETURN_IF_ERROR(stored.status());
    if (epoch_of(*stored) != marker->epoch) return replaced(*marker, *stored);
    ASSIGN_OR_RETURN(const std::vector<proto::PromptRecord> prompts, store_->prompts());
    std::vector<std::string> outcomes, claims;
    for (const uint32_t p : marks.done) {
      if (p >= prompts.size() || prompts[p].status() != proto::PROMPT_DONE) outcomes.push_back(std::to_string(p));
    }
    for (const auto& [p, token] : marks.tokens) {
      const uint64_t now = p < prompts.size() ? prompts[p].token() : 0;
      if (now < token) {
        claims.push_back("prompt " + std::to_string(p) + " (token " + std::to_string(token) + " used, the store's is " +
                         std::to_string(now) + ")");
      }
    }
    if (outcomes.empty() && claims.empty()) return Status::Ok();
    std::string lost;
    if (!outcomes.empty()) lost = "the outcomes of prompts " + listed(outcomes) + " (finished in this folder)";
    if (!claims.empty()) lost += (lost.empty() ? "" : ", and ") + std::string("the claims of ") + listed(claims);
    return went_back(*marker, "it lost " + lost);
  }

  // After open: the marker names the store's job. A new epoch (a new job, a restart, a record
  // replaced before any progress) drops the marks of every other; a restart drops all (its
  // tokens start again, even in a job recreated within the same millisecond).
  Status adopt(bool restart) {
    ASSIGN_OR_RETURN(const proto::JobRecord stored, store_->job());
    const Marker current{epoch_of(stored), store_->describe()};
    ASSIGN_OR_RETURN(const std::optional<Marker> marker, read_marker(marker_path_));
    if (restart || !marker || marker->epoch != current.epoch) {
      RETURN_IF_ERROR(write_file_atomic(marker_path_, "epoch " + current.epoch + "\nstore " + current.store +
                                                          "\ncreated " + epoch_time(current.epoch) + "\n"));
      std::error_code ec;
      for (auto it = fs::directory_iterator(marks_root_, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        if (restart || it->path().filename() != current.epoch) fs::remove_all(it->path(), ec);
        if (ec) return Internal("cannot remove " + it->path().string() + ": " + ec.message());
      }
    }
    marker_ = current;
    return Status::Ok();
  }

  // Every lease is marked used before the caller sees it; a token or prompt marked before means
  // the store went back.
  Status check_claimed(const std::vector<proto::Lease>& leases) {
    ASSIGN_OR_RETURN(const std::optional<Marker> marker, bound());
    if (!marker) return Status::Ok();
    const fs::path folder = marks_root_ / marker->epoch;
    std::error_code ec;
    for (const proto::Lease& lease : leases) {
      const std::string claimed = "prompt " + std::to_string(lease.prompt()) + " with token " + std::to_string(lease.token());
      if (fs::exists(folder / done_name(lease.prompt()), ec)) {
        return went_back(*marker, "it handed out " + claimed + " again, whose outcome it had saved (finished in this folder)");
      }
      const fs::path mark = folder / token_name(lease.prompt(), lease.token());
      ASSIGN_OR_RETURN(const bool created, create_mark(mark, lease.owner() + "\n", true));
      if (!created) {
        auto first = read_file(mark.string());
        std::string holder = first.ok() ? *first : std::string();
        while (!holder.empty() && holder.back() == '\n') holder.pop_back();
        return went_back(*marker, "it handed out " + claimed + ", a token already used" +
                                      (holder.empty() ? std::string() : " (by " + holder + ")"));
      }
    }
    return Status::Ok();
  }

  Status mark_done(uint32_t prompt) {
    ASSIGN_OR_RETURN(const std::optional<Marker> marker, bound());
    if (!marker) return Status::Ok();
    return create_mark(marks_root_ / marker->epoch / done_name(prompt), "", false).status();
  }

  // NotFound from a store means its job is gone: the lost-job message, once the folder has an epoch.
  Status translated(Status s) {
    if (s.code() != StatusCode::kNotFound) return s;
    auto marker = bound();
    if (!marker.ok() || !*marker) return s;
    auto stored = store_->job();
    if (stored.ok() || stored.status().code() != StatusCode::kNotFound) return s;  // another thing is missing
    auto marks = read_marks(marks_root_ / (*marker)->epoch);
    return lost_job(**marker, marks.ok() ? *marks : Marks{});
  }
  template <typename T>
  StatusOr<T> translated(StatusOr<T> s) {
    if (s.ok()) return s;
    return translated(s.status());
  }

  std::string folder_says(const Marks& marks) const {
    return "this output folder marked " + counted(marks.done.size(), "prompt", "prompts") + " finished and " +
           counted(marks.tokens.size(), "prompt", "prompts") + " claimed";
  }

  Status lost_job(const Marker& marker, const Marks& marks) const {
    return DataLoss("job store " + describe() + " holds no job, but this output folder holds the job created in " +
                    marker.store + " at " + epoch_time(marker.epoch) + " (" + marker_path_ +
                    "): the store lost the job (Redis restarted empty or without its data files, FLUSHALL, or its "
                    "keys evicted), with every prompt's record, checkpoint and outcome; " +
                    folder_says(marks) + ". " + kNothingRedone +
                    " To continue: run the same command with --restart (it discards the job's state and computes "
                    "every prompt again), or run against the store that holds the job.");
  }

  Status replaced(const Marker& marker, const proto::JobRecord& stored) const {
    return DataLoss("job store " + describe() + " holds a job created at " + store::iso_time(stored.created_unix_ms()) +
                    ", but this output folder holds the one created at " + epoch_time(marker.epoch) + " (" +
                    marker_path_ + "): another job record replaced it (the store lost the job and a run created it "
                    "anew). " + kNothingRedone +
                    " To continue: run the same command with --restart (it discards the job's state and computes "
                    "every prompt again), or use another output folder.");
  }

  Status went_back(const Marker& marker, const std::string& what) const {
    return DataLoss("job store " + describe() + " went back in time (Redis restarted from an older snapshot, or lost "
                    "its last writes: with appendfsync everysec up to a second of them): " + what +
                    " (this output folder's marks of the job created at " + epoch_time(marker.epoch) + ": " +
                    (marks_root_ / marker.epoch).string() + "). " + kNothingRedone +
                    " To continue: run the same command with --restart (it discards the job's state and computes "
                    "every prompt again), or bring back the store's lost data and run the same command.");
  }

  static constexpr const char* kNothingRedone = "This run stopped before recomputing a finished prompt or using a "
                                                "fencing token twice.";

  std::unique_ptr<JobStore> store_;
  const std::string marker_path_;  // <output>/state/store-epoch
  const fs::path marks_root_;      // <output>/state/store-marks: a folder per epoch
  std::optional<Marker> marker_;   // the folder's epoch, once adopted or read
};

}  // namespace

std::unique_ptr<JobStore> with_epoch_checks(std::unique_ptr<JobStore> store, std::string output_dir) {
  return std::make_unique<EpochCheckedJobStore>(std::move(store), std::move(output_dir));
}

}  // namespace evosearch
