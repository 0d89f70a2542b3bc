// Errors as values at module boundaries: a Status says what failed and what to do about it.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace evosearch {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the user's input is wrong (spec, manifest, prompt, flag)
  kNotFound,         // a file or key is missing
  kFailedPrecondition,
  kDataLoss,         // a file exists but is corrupt
  kInternal,         // a library call failed in a way the user cannot fix
  kUnavailable,        // cannot go on now (a stop signal, a job store out of reach); running again resumes
  kDeadlineExceeded,   // something did not answer in time (a hung rank)
  kAborted,            // another process of the job died
  // A model module raised, or gave an output that fails its checks (shape, dtype, NaN or
  // infinite values, range), on the inputs of one call: charged to the prompts whose inputs they
  // were (coordinator/job_loop.h). Never the machine's: out of memory, a lost worker or an
  // unreachable job store have codes of their own.
  kModelError,
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string to_string() const;

  // Prefix the message with where it happened, e.g. "loading bundle models/x: ...".
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status DeadlineExceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
inline Status Aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
inline Status ModelError(std::string m) { return {StatusCode::kModelError, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}

// A value or the Status saying why there is none.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Internal("StatusOr built from an OK status without a value");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T&& operator*() && { return std::move(*value_); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace evosearch

#define EVOSEARCH_CONCAT_INNER(a, b) a##b
#define EVOSEARCH_CONCAT(a, b) EVOSEARCH_CONCAT_INNER(a, b)

// Return early from a function returning Status or StatusOr when `expr` fails.
#define RETURN_IF_ERROR(expr)                            \
  do {                                                   \
    ::evosearch::Status _evosearch_status = (expr);      \
    if (!_evosearch_status.ok()) return _evosearch_status; \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(EVOSEARCH_CONCAT(_evosearch_or_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()
