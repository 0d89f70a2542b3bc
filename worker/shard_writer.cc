#include "worker/shard_writer.h"

#include <exception>

#include "common/shard_files.h"
#include "worker/compute_thread.h"

namespace evosearch {
namespace {

// The report for one shard; never throws (an exception becomes an error report).
proto::WorkerReport write_one(const ShardWriteFn& write, ShardJob& job) {
  try {
    StatusOr<proto::ShardRef> shard = write(job.output_dir, job.path, job.prompt, std::move(job.states));
    if (!shard.ok()) return error_report(shard.status().with_context("checkpoint shard"), 0, job.request, {job.prompt});
    proto::WorkerReport r;
    r.mutable_shard_written()->set_request(job.request);
    *r.mutable_shard_written()->mutable_shard() = std::move(*shard);
    return r;
  } catch (const std::exception& e) {
    return error_report(Internal(std::string("checkpoint shard ") + job.path + ": " + e.what()), 0, job.request, {job.prompt});
  }
}

}  // namespace

ShardWriter::ShardWriter(ShardWriteFn write)
    : write_(write ? std::move(write) : ShardWriteFn(write_shard)), thread_([this] { loop(); }) {}

ShardWriter::~ShardWriter() { stop(); }

void ShardWriter::push(ShardJob job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
}

void ShardWriter::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

std::vector<proto::WorkerReport> ShardWriter::take_reports() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<proto::WorkerReport> out;
  out.swap(outbox_);
  return out;
}

size_t ShardWriter::pending() {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size() + writing_;
}

void ShardWriter::loop() {
  for (;;) {
    ShardJob job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      writing_ = 1;
    }
    proto::WorkerReport report = write_one(write_, job);
    std::lock_guard<std::mutex> lock(mutex_);
    outbox_.push_back(std::move(report));
    writing_ = 0;
  }
}

}  // namespace evosearch
