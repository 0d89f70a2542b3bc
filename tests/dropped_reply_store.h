// A job store layer for tests that loses replies: it runs each call on the store below and then,
// at the calls its plan picks, returns Unavailable instead of the result, as a command timeout
// that arrives after the server ran the command does. Put under the retrying layer
// (jobs/retrying_job_store.h), it makes the retries repeat calls that already ran.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jobs/job_store.h"

namespace evosearch::testing_support {

class DroppedReplyStore final : public JobStore {
 public:
  // Whether to drop the reply of call `n` (1-based, every call counted, reads too) named `call`
  // ("claim", "release", ...).
  using Plan = std::function<bool(int n, const std::string& call)>;

  DroppedReplyStore(std::unique_ptr<JobStore> store, Plan plan) : store_(std::move(store)), plan_(std::move(plan)) {}

  // Every call so far, in order; the dropped ones as "<name> (dropped)".
  const std::vector<std::string>& calls() const { return calls_; }
  // The names of the calls whose reply was dropped.
  const std::vector<std::string>& dropped() const { return dropped_; }

  std::string describe() const override { return store_->describe(); }
  Status open(const proto::JobRecord& job, const std::vector<std::string>& texts, bool restart) override {
    return pass("open", [&] { return store_->open(job, texts, restart); });
  }
  StatusOr<proto::JobRecord> job() override { return pass("job", [&] { return store_->job(); }); }
  StatusOr<std::vector<proto::PromptRecord>> prompts() override { return pass("prompts", [&] { return store_->prompts(); }); }
  StatusOr<std::vector<proto::Lease>> claim(const std::string& owner, int max, double lease_seconds,
                                            const RequestId& request) override {
    return pass("claim", [&] { return store_->claim(owner, max, lease_seconds, request); });
  }
  Status renew(proto::Lease& lease, double lease_seconds, const RequestId& request) override {
    return pass("renew", [&] { return store_->renew(lease, lease_seconds, request); });
  }
  Status release(const proto::Lease& lease, const RequestId& request) override {
    return pass("release", [&] { return store_->release(lease, request); });
  }
  Status commit_checkpoint(const proto::Lease& lease, const proto::CheckpointRecord& checkpoint,
                           const RequestId& request) override {
    return pass("commit_checkpoint", [&] { return store_->commit_checkpoint(lease, checkpoint, request); });
  }
  Status save_outcome(const proto::Lease& lease, const proto::PromptOutcome& outcome, const RequestId& request) override {
    return pass("save_outcome", [&] { return store_->save_outcome(lease, outcome, request); });
  }
  Status mark_failed(const proto::Lease& lease, const std::string& error, const RequestId& request) override {
    return pass("mark_failed", [&] { return store_->mark_failed(lease, error, request); });
  }
  StatusOr<std::optional<proto::CheckpointRecord>> load_checkpoint(uint32_t prompt) override {
    return pass("load_checkpoint", [&] { return store_->load_checkpoint(prompt); });
  }
  StatusOr<std::optional<proto::PromptOutcome>> load_outcome(uint32_t prompt) override {
    return pass("load_outcome", [&] { return store_->load_outcome(prompt); });
  }
  Status append_progress(const proto::ProgressEvent& event, const RequestId& request) override {
    return pass("append_progress", [&] { return store_->append_progress(event, request); });
  }
  StatusOr<std::vector<proto::ProgressEvent>> progress(size_t max) override {
    return pass("progress", [&] { return store_->progress(max); });
  }
  Status log_event(const std::string& event, const RequestId& request) override {
    return pass("log_event", [&] { return store_->log_event(event, request); });
  }
  Status add_outputs(const std::vector<std::string>& paths, const RequestId& request) override {
    return pass("add_outputs", [&] { return store_->add_outputs(paths, request); });
  }
  StatusOr<std::vector<std::string>> outputs() override { return pass("outputs", [&] { return store_->outputs(); }); }

 private:
  template <typename Call>
  auto pass(const std::string& name, Call&& call) -> decltype(call()) {
    auto result = call();
    const int n = static_cast<int>(calls_.size()) + 1;
    if (!plan_ || !plan_(n, name)) {
      calls_.push_back(name);
      return result;
    }
    calls_.push_back(name + " (dropped)");
    dropped_.push_back(name);
    return Status(StatusCode::kUnavailable, describe() + ": the reply to " + name + " was lost (it ran)");
  }

  std::unique_ptr<JobStore> store_;
  const Plan plan_;
  std::vector<std::string> calls_;
  std::vector<std::string> dropped_;
};

}  // namespace evosearch::testing_support
