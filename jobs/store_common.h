// What the file and Redis job stores share: lease and clock arithmetic, the messages of their
// refusals (so both stores say the same thing), the job status derived from the prompt records,
// output path checks, and protobuf JSON records that fail as DataLoss naming where they came from.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "common/status.h"
#include "evosearch/job_records.pb.h"

namespace evosearch::store {

int64_t unix_ms_now();
// "2024-11-26T14:10:00.123Z": the time stamp of an event log line.
std::string iso_time_now();

// The lease in whole milliseconds (at least 1); InvalidArgument unless lease_seconds > 0.
StatusOr<int64_t> lease_ms(double lease_seconds);

// True when `lease` still holds the prompt: running under its owner and token.
bool holds(const proto::Lease& lease, const proto::PromptRecord& record);
// True when the record's latest claim is `lease`'s (whatever the prompt's state now).
bool holds_token(const proto::Lease& lease, const proto::PromptRecord& record);
// FailedPrecondition "lease lost", saying who or what holds the prompt now.
Status lease_lost(const proto::Lease& lease, const proto::PromptRecord& now, const std::string& where);

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
