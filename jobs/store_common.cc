#include "jobs/store_common.h"

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <utility>

#include <google/protobuf/util/json_util.h>

#include "common/checksum.h"

namespace evosearch::store {

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string iso_time(int64_t ms) {
  const std::time_t seconds = ms / 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[48];
  const size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(stamp + n, sizeof stamp - n, ".%03dZ", static_cast<int>(ms % 1000));
  return stamp;
}

StoreBase::StoreBase(StoreClock clock) : clock_(clock ? std::move(clock) : StoreClock(unix_ms_now)) {}

StatusOr<proto::JobRecord> StoreBase::job() {
  ASSIGN_OR_RETURN(proto::JobRecord job, read_job());
  ASSIGN_OR_RETURN(const std::vector<proto::PromptRecord> all, read_prompts(job.prompt_count()));
  derive_status(all, job);
  return job;
}

StatusOr<std::vector<proto::PromptRecord>> StoreBase::prompts() {
  ASSIGN_OR_RETURN(const proto::JobRecord job, read_job());
  return read_prompts(job.prompt_count());
}

StatusOr<int64_t> lease_ms(double lease_seconds) {
  if (!(lease_seconds > 0) || !std::isfinite(lease_seconds)) {
    return InvalidArgument("lease_seconds is " + std::to_string(lease_seconds) + "; expected a positive number of seconds");
  }
  return std::max<int64_t>(1, std::llround(lease_seconds * 1000));
}

bool holds(const proto::Lease& lease, const proto::PromptRecord& record) {
  return record.status() == proto::PROMPT_RUNNING && holds_token(lease, record);
}

bool holds_token(const proto::Lease& lease, const proto::PromptRecord& record) {
  return record.owner() == lease.owner() && record.token() == lease.token();
}

Status lease_lost(const proto::Lease& lease, const proto::PromptRecord& now, const std::string& where) {
  std::string holder;
  if (now.status() == proto::PROMPT_RUNNING) {
    holder = "running under owner " + now.owner() + " with token " + std::to_string(now.token());
  } else {
    holder = proto::PromptStatus_Name(now.status()) + " (token " + std::to_string(now.token()) + ")";
  }
  return FailedPrecondition("lease lost: prompt " + std::to_string(lease.prompt()) + " of " + where + " was claimed by " +
                            lease.owner() + " with token " + std::to_string(lease.token()) + " and is now " + holder +
                            "; nothing was written");
}

Status check_request(const RequestId& request) {
  bool plain = request.value.size() <= 100;
  for (const char c : request.value) plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
  if (plain) return Status::Ok();
  return InvalidArgument("request id '" + request.value + "': expected at most 100 letters, digits, '-' and '_'");
}

Status wrong_prompt(const char* what, uint32_t prompt, const proto::Lease& lease) {
  return InvalidArgument(std::string(what) + " of prompt " + std::to_string(prompt) + " under the lease of prompt " +
                         std::to_string(lease.prompt()));
}

Status different_job(const std::string& where, const std::string& differences) {
  std::string indented;
  for (size_t start = 0; start < differences.size();) {
    const size_t end = std::min(differences.find('\n', start), differences.size());
    indented += "\n  " + differences.substr(start, end - start);
    start = end + 1;
  }
  return FailedPrecondition(where + " holds the state of a different job spec or inputs:" + indented +
                            "\nuse another output folder or job name, or --restart to discard that state");
}

void derive_status(const std::vector<proto::PromptRecord>& prompts, proto::JobRecord& job) {
  bool active = false, failed = false;
  int64_t updated = job.created_unix_ms();
  for (const proto::PromptRecord& p : prompts) {
    active = active || p.status() == proto::PROMPT_QUEUED || p.status() == proto::PROMPT_RUNNING;
    failed = failed || p.status() == proto::PROMPT_FAILED;
    updated = std::max(updated, p.updated_unix_ms());
  }
  job.set_status(active ? proto::JOB_RUNNING : failed ? proto::JOB_FAILED : proto::JOB_DONE);
  job.set_updated_unix_ms(updated);
}

Status check_output_path(const std::string& path) {
  const std::filesystem::path p(path);
  bool escapes = false;
  for (const auto& part : p) escapes = escapes || part == "..";
  if (path.empty() || p.is_absolute() || escapes || path.find_first_of("\r\n") != std::string::npos) {
    return InvalidArgument("output path '" + path + "': expected a path inside the output folder, relative, without '..'");
  }
  return Status::Ok();
}

std::string to_json(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  // Only fails for messages with unset required fields or Any types, which these records lack.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

Status from_json(const std::string& text, google::protobuf::Message& message, const std::string& where) {
  const auto parsed = google::protobuf::util::JsonStringToMessage(text, &message);
  if (!parsed.ok()) {
    return DataLoss(where + ": not a valid " + message.GetDescriptor()->name() + " record (" +
                    std::string(parsed.message()) + ")");
  }
  return Status::Ok();
}

Status from_bytes(const std::string& bytes, google::protobuf::Message& message, const std::string& where) {
  if (!message.ParseFromString(bytes)) {
    return DataLoss(where + ": not a valid " + message.GetDescriptor()->name() + " record");
  }
  return Status::Ok();
}

std::string seal(const google::protobuf::Message& message) {
  proto::SealedRecord sealed;
  sealed.set_payload(message.SerializeAsString());
  sealed.set_sha256(sha256_hex(sealed.payload()));
  return sealed.SerializeAsString();
}

Status unseal(const std::string& bytes, google::protobuf::Message& message, const std::string& where) {
  proto::SealedRecord sealed;
  if (!sealed.ParseFromString(bytes) || sealed.sha256().size() != 64) {
    return DataLoss(where + ": not a sealed " + message.GetDescriptor()->name() + " record");
  }
  if (sha256_hex(sealed.payload()) != sealed.sha256()) {
    return DataLoss(where + ": the " + message.GetDescriptor()->name() +
                    " does not match its checksum (changed after it was written); run with --restart to redo the job");
  }
  return from_bytes(sealed.payload(), message, where);
}

namespace {

Status check_prompt(uint32_t held, uint32_t prompt, const std::string& what, const std::string& where) {
  if (held == prompt) return Status::Ok();
  return DataLoss(where + ": holds the " + what + " of prompt " + std::to_string(held) + ", not of prompt " +
                  std::to_string(prompt) + "; run with --restart to redo the job");
}

}  // namespace

Status check_prompt(const proto::CheckpointRecord& record, uint32_t prompt, const std::string& where) {
  return check_prompt(record.prompt(), prompt, "checkpoint", where);
}

Status check_prompt(const proto::PromptOutcome& record, uint32_t prompt, const std::string& where) {
  return check_prompt(record.index(), prompt, "outcome", where);
}

}  // namespace evosearch::store
