// Where a job keeps its progress so that a killed, preempted or requeued run resumes: the
// spec it belongs to, one checkpoint per unfinished prompt (replaced atomically after every
// generation), one outcome per finished prompt, and a log of events. The file store keeps
// them in the output folder; a Redis-backed store implements the same interface for jobs
// shared by several coordinators.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "evosearch/job.pb.h"

namespace evosearch {

class JobStore {
 public:
  virtual ~JobStore() = default;
  // Binds the store to `spec_json`. A store holding another spec is refused unless `restart`,
  // which discards all earlier progress.
  virtual Status open(const std::string& spec_json, bool restart) = 0;
  virtual StatusOr<std::optional<proto::PromptCheckpoint>> load_checkpoint(uint32_t prompt) = 0;
  virtual Status save_checkpoint(const proto::PromptCheckpoint& checkpoint) = 0;
  virtual StatusOr<std::optional<proto::PromptOutcome>> load_outcome(uint32_t prompt) = 0;
  // Records a finished prompt and drops its checkpoint.
  virtual Status save_outcome(const proto::PromptOutcome& outcome) = 0;
  virtual Status log_event(const std::string& event) = 0;
};

// Keeps everything under <output>/: job.json (the spec) and state/ (checkpoints, outcomes,
// events.log). Every file is written atomically (write, fsync, rename).
std::unique_ptr<JobStore> make_file_job_store(const std::string& output_dir);

}  // namespace evosearch
