#include "jobs/retrying_job_store.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>

namespace evosearch {
namespace {

class RetryingJobStore final : public JobStore {
 public:
  RetryingJobStore(std::unique_ptr<JobStore> store, double give_up_seconds)
      : store_(std::move(store)), give_up_(give_up_seconds), prefix_(random_prefix()) {}

  std::string describe() const override { return store_->describe(); }
  Status open(const proto::JobRecord& job, const std::vector<std::string>& texts, bool restart) override {
    return retry([&] { return store_->open(job, texts, restart); });
  }
  StatusOr<proto::JobRecord> job() override { return retry([&] { return store_->job(); }); }
  StatusOr<std::vector<proto::PromptRecord>> prompts() override { return retry([&] { return store_->prompts(); }); }
  StatusOr<std::vector<proto::Lease>> claim(const std::string& owner, int max, double lease_seconds,
                                            const RequestId& request) override {
    const RequestId id = named(request);
    return retry([&] { return store_->claim(owner, max, lease_seconds, id); });
  }
  Status renew(proto::Lease& lease, double lease_seconds, const RequestId& request) override {
    const RequestId id = named(request);
    return retry([&] { return store_->renew(lease, lease_seconds, id); });
  }
  Status release(const proto::Lease& lease, const RequestId& request) override {
    const RequestId id = named(request);
    return retry([&] { return store_->release(lease, id); });
  }
  Status commit_checkpoint(const proto::Lease& lease, const proto::CheckpointRecord& checkpoint,
                           const RequestId& request) override {
    const RequestId id = named(request);
    return retry([&] { return store_->commit_checkpoint(lease, checkpoint, id); });
  }
  Status save_outcome(const proto::Lease& lease, const proto::PromptOutcome& outcome, const RequestId& request) override {
    const RequestId id = named(request);
    return retry([&] { return store_->save_outcome(lease, outcome, id); });
  }
  Status mark_failed(const proto::Lease& lease, const std::string& error, const RequestId& request) override {
    const RequestId id = named(request);
    return retry([&] { return store_->mark_failed(lease, error, id); });
  }
  StatusOr<std::optional<proto::CheckpointRecord>> load_checkpoint(uint32_t prompt) override {
    return retry([&] { return store_->load_checkpoint(prompt); });
  }
  StatusOr<std::optional<proto::PromptOutcome>> load_outcome(uint32_t prompt) override {
    return retry([&] { return store_->load_outcome(prompt); });
  }
  Status append_progress(const proto::ProgressEvent& event, const RequestId& request) override {
    const RequestId id = named(request);
    return retry([&] { return store_->append_progress(event, id); });
  }
  StatusOr<std::vector<proto::ProgressEvent>> progress(size_t max) override {
    return retry([&] { return store_->progress(max); });
  }
  Status log_event(const std::string& event, const RequestId& request) override {
    const RequestId id = named(request);
    return retry([&] { return store_->log_event(event, id); });
  }
  Status add_outputs(const std::vector<std::string>& paths, const RequestId& request) override {
    const RequestId id = named(request);
    return retry([&] { return store_->add_outputs(paths, id); });
  }
  StatusOr<std::vector<std::string>> outputs() override { return retry([&] { return store_->outputs(); }); }

 private:
  using Clock = std::chrono::steady_clock;

  // The caller's id, or a new one for this call: this object's random prefix and a count.
  RequestId named(const RequestId& request) {
    if (!request.value.empty()) return request;
    return RequestId{prefix_ + "-" + std::to_string(++requests_)};
  }

  static std::string random_prefix() {
    std::random_device random;
    char hex[33];
    std::snprintf(hex, sizeof hex, "%08x%08x%08x%08x", random(), random(), random(), random());
    return hex;
  }

  template <typename Call>
  auto retry(Call&& call) -> decltype(call()) {
    auto result = call();
    if (unavailable(result)) {
      if (!outage_) {
        outage_ = Clock::now();
        spdlog::warn("job store {} is out of reach ({}); retrying for up to {:.0f} s", describe(), message(result), give_up_);
      }
      double wait = 0.1;
      while (unavailable(result)) {
        const double out = std::chrono::duration<double>(Clock::now() - *outage_).count();
        if (out >= give_up_) {
          return Status(StatusCode::kUnavailable, "job store " + describe() + " has been out of reach for " +
                                                      std::to_string(static_cast<int>(out)) + " s (" + message(result) +
                                                      "); every prompt is checkpointed: run again (Slurm requeues on "
                                                      "exit 75) once it is back");
        }
        std::this_thread::sleep_for(std::chrono::duration<double>(std::min(wait, give_up_ - out)));
        wait = std::min(5.0, wait * 2);
        result = call();
      }
      spdlog::info("job store {} is back after {:.1f} s", describe(),
                   std::chrono::duration<double>(Clock::now() - *outage_).count());
    }
    outage_.reset();
    return result;
  }

  static bool unavailable(const Status& s) { return s.code() == StatusCode::kUnavailable; }
  template <typename T>
  static bool unavailable(const StatusOr<T>& s) { return unavailable(s.status()); }
  static const std::string& message(const Status& s) { return s.message(); }
  template <typename T>
  static const std::string& message(const StatusOr<T>& s) { return s.status().message(); }

  std::unique_ptr<JobStore> store_;
  const double give_up_;
  std::optional<Clock::time_point> outage_;  // when the current outage began
  const std::string prefix_;                 // of this object's request ids: 128 random bits
  uint64_t requests_ = 0;                    // request ids made so far
};

}  // namespace

std::unique_ptr<JobStore> with_retries(std::unique_ptr<JobStore> store, double give_up_seconds) {
  return std::make_unique<RetryingJobStore>(std::move(store), give_up_seconds);
}

}  // namespace evosearch
