#include "jobs/job_store.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

#include <google/protobuf/util/json_util.h>

#include "jobs/atomic_file.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

class FileJobStore final : public JobStore {
 public:
  explicit FileJobStore(std::string root) : root_(std::move(root)) {}

  Status open(const std::string& spec_json, bool restart) override {
    const std::string spec_file = (fs::path(root_) / "job.json").string();
    auto previous = read_file(spec_file);
    if (previous.ok() && *previous != spec_json) {
      if (!restart) {
        return FailedPrecondition(root_ + " holds the outputs of a different job spec (" + spec_file +
                                  "); use another output folder, or --restart to discard them");
      }
    }
    if (restart) {
      std::error_code ec;
      for (const char* entry : {"state", "images", "grids", "results.json"}) fs::remove_all(fs::path(root_) / entry, ec);
    }
    return write_file_atomic(spec_file, spec_json);
  }

  StatusOr<std::optional<proto::PromptCheckpoint>> load_checkpoint(uint32_t prompt) override {
    auto bytes = read_file(path(prompt, ".ckpt"));
    if (!bytes.ok()) return missing_or(bytes.status(), std::optional<proto::PromptCheckpoint>());
    proto::PromptCheckpoint checkpoint;
    if (!checkpoint.ParseFromString(*bytes) || checkpoint.prompt() != prompt) {
      return DataLoss(path(prompt, ".ckpt") + ": corrupt checkpoint; delete it to redo this prompt from the start");
    }
    return std::optional<proto::PromptCheckpoint>(std::move(checkpoint));
  }

  Status save_checkpoint(const proto::PromptCheckpoint& checkpoint) override {
    return write_file_atomic(path(checkpoint.prompt(), ".ckpt"), checkpoint.SerializeAsString());
  }

  StatusOr<std::optional<proto::PromptOutcome>> load_outcome(uint32_t prompt) override {
    auto text = read_file(path(prompt, ".done.json"));
    if (!text.ok()) return missing_or(text.status(), std::optional<proto::PromptOutcome>());
    proto::PromptOutcome outcome;
    if (!google::protobuf::util::JsonStringToMessage(*text, &outcome).ok()) {
      return DataLoss(path(prompt, ".done.json") + ": corrupt outcome; delete it to redo this prompt");
    }
    return std::optional<proto::PromptOutcome>(std::move(outcome));
  }

  Status save_outcome(const proto::PromptOutcome& outcome) override {
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(outcome, &json);
    RETURN_IF_ERROR(write_file_atomic(path(outcome.index(), ".done.json"), json));
    std::error_code ec;
    fs::remove(path(outcome.index(), ".ckpt"), ec);
    return Status::Ok();
  }

  Status log_event(const std::string& event) override {
    const fs::path file = fs::path(root_) / "state" / "events.log";
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    std::ofstream out(file, std::ios::app);
    const std::time_t now = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", std::gmtime(&now));
    out << stamp << " " << event << "\n";
    if (!out) return Internal("cannot append to " + file.string());
    return Status::Ok();
  }

 private:
  std::string path(uint32_t prompt, const char* suffix) const {
    char name[32];
    std::snprintf(name, sizeof name, "prompt-%05u", prompt);
    return (fs::path(root_) / "state" / (std::string(name) + suffix)).string();
  }

  template <typename T>
  static StatusOr<T> missing_or(const Status& status, T empty) {
    if (status.code() == StatusCode::kNotFound) return empty;
    return status;
  }

  std::string root_;
};

}  // namespace

std::unique_ptr<JobStore> make_file_job_store(const std::string& output_dir) {
  return std::make_unique<FileJobStore>(output_dir);
}

}  // namespace evosearch
