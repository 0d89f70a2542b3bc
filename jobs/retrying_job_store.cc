#include "jobs/retrying_job_store.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

namespace evosearch {
namespace {

class RetryingJobStore final : public JobStore {
 public:
  RetryingJobStore(std::unique_ptr<JobStore> store, double give_up_seconds)
      : store_(std::move(store)), give_up_(give_up_seconds) {}

  std::string describe() const override { return store_->describe(); }
  Status open(const proto::JobRecord& job, const std::vector<std::string>& texts, bool restart) override {
    return retry([&] { return store_->open(job, texts, restart); });
  }
  StatusOr<proto::JobRecord> job() override { return retry([&] { return store_->job(); }); }
  StatusOr<std::vector<proto::PromptRecord>> prompts() override { return retry([&] { return store_->prompts(); }); }
  StatusOr<std::vector<proto::Lease>> claim(const std::string& owner, int max, double lease_seconds) override {
    return retry([&] { return store_->claim(owner, max, lease_seconds); });
  }
  Status renew(proto::Lease& lease, double lease_seconds) override {
    return retry([&] { return store_->renew(lease, lease_seconds); });
  }
  Status release(const proto::Lease& lease) override { return retry([&] { return store_->release(lease); }); }
  Status commit_checkpoint(const proto::Lease& lease, const proto::CheckpointRecord& checkpoint) override {
    return retry([&] { return store_->commit_checkpoint(lease, checkpoint); });
  }
  Status save_outcome(const proto::Lease& lease, const proto::PromptOutcome& outcome) override {
    return retry([&] { return store_->save_outcome(lease, outcome); });
  }
  Status mark_failed(const proto::Lease& lease, const std::string& error) override {
    return retry([&] { return store_->mark_failed(lease, error); });
  }
  StatusOr<std::optional<proto::CheckpointRecord>> load_checkpoint(uint32_t prompt) override {
    return retry([&] { return store_->load_checkpoint(prompt); });
  }
  StatusOr<std::optional<proto::PromptOutcome>> load_outcome(uint32_t prompt) override {
    return retry([&] { return store_->load_outcome(prompt); });
  }
  Status append_progress(const proto::ProgressEvent& event) override {
    return retry([&] { return store_->append_progress(event); });
  }
  StatusOr<std::vector<proto::ProgressEvent>> progress(size_t max) override {
    return retry([&] { return store_->progress(max); });
  }
  Status log_event(const std::string& event) override { return retry([&] { return store_->log_event(event); }); }
  Status add_outputs(const std::vector<std::string>& paths) override {
    return retry([&] { return store_->add_outputs(paths); });
  }
  StatusOr<std::vector<std::string>> outputs() override { return retry([&] { return store_->outputs(); }); }

 private:
  using Clock = std::chrono::steady_clock;

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
};

}  // namespace

std::unique_ptr<JobStore> with_retries(std::unique_ptr<JobStore> store, double give_up_seconds) {
  return std::make_unique<RetryingJobStore>(std::move(store), give_up_seconds);
}

}  // namespace evosearch
