// What the file and Redis job stores share: job() and prompts() over the records each reads
// (StoreBase), lease and clock arithmetic, the messages of their refusals (so both stores say the
// same thing), the job status derived from the prompt records, output path checks, and protobuf
// JSON records that fail as DataLoss naming where they came from.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "common/status.h"
#include "evosearch/job_records.pb.h"
#include "jobs/job_store.h"

namespace evosearch::store {

// The system clock: what a store reads when given no clock of its own.
int64_t unix_ms_now();
// "2024-11-26T14:10:00.123Z": the time stamp of an event log line.
std::string iso_time(int64_t unix_ms);

// The part of the JobStore interface both stores share: job() and prompts() over the records a
// store reads, and the clock it reads.
class StoreBase : public JobStore {
 public:
  // The job record with its status and updated time derived from its prompts.
  StatusOr<proto::JobRecord> job() final;
  StatusOr<std::vector<proto::PromptRecord>> prompts() final;

 protected:
  // An empty clock reads the system clock.
  explicit StoreBase(StoreClock clock);

  // The job record as stored; NotFound when the store holds no job.
  virtual StatusOr<proto::JobRecord> read_job() = 0;
  // The records of prompts 0 .. count - 1; DataLoss naming a record that does not parse.
  virtual StatusOr<std::vector<proto::PromptRecord>> read_prompts(uint32_t count) = 0;

  int64_t now_ms() const { return clock_(); }

 private:
  const StoreClock clock_;
};

// The lease in whole milliseconds (at least 1); InvalidArgument unless lease_seconds > 0.
StatusOr<int64_t> lease_ms(double lease_seconds);

// True when `lease` still holds the prompt: running under its owner and token.
bool holds(const proto::Lease& lease, const proto::PromptRecord& record);
// True when the record's latest claim is `lease`'s (whatever the prompt's state now).
bool holds_token(const proto::Lease& lease, const proto::PromptRecord& record);
// FailedPrecondition "lease lost", saying who or what holds the prompt now.
Status lease_lost(const proto::Lease& lease, const proto::PromptRecord& now, const std::string& where);

// InvalidArgument unless the request id is empty or at most 100 letters, digits, '-' and '_' (it
// names a file or a key).
Status check_request(const RequestId& request);

// InvalidArgument: a checkpoint or outcome (`what`) of `prompt` written under the lease of another.
Status wrong_prompt(const char* what, uint32_t prompt, const proto::Lease& lease);

// FailedPrecondition naming every difference (job_differences) and what to do.
Status different_job(const std::string& where, const std::string& differences);

// The job's status from its prompts: running while any is queued or running, done when all are
// done, failed otherwise; updated_unix_ms is the latest prompt change.
void derive_status(const std::vector<proto::PromptRecord>& prompts, proto::JobRecord& job);

// A path the job wrote, relative to the output folder, that --restart may delete: relative,
// without "..", and on one line. InvalidArgument naming it otherwise.
Status check_output_path(const std::string& path);

// Protobuf JSON (field names as in the .proto) on one line, and back; DataLoss names `where`.
std::string to_json(const google::protobuf::Message& message);
Status from_json(const std::string& text, google::protobuf::Message& message, const std::string& where);
// Binary protobuf back from bytes; DataLoss names `where`.
Status from_bytes(const std::string& bytes, google::protobuf::Message& message, const std::string& where);

// A record with the SHA-256 of its bytes (proto::SealedRecord), and back: DataLoss naming `where`
// when the bytes do not match their checksum (the record was changed after it was written).
std::string seal(const google::protobuf::Message& message);
Status unseal(const std::string& bytes, google::protobuf::Message& message, const std::string& where);

// DataLoss naming `where` unless the checkpoint or outcome read for `prompt` is that prompt's: a
// sealed record copied over another prompt's still matches its own checksum.
Status check_prompt(const proto::CheckpointRecord& record, uint32_t prompt, const std::string& where);
Status check_prompt(const proto::PromptOutcome& record, uint32_t prompt, const std::string& where);

}  // namespace evosearch::store
