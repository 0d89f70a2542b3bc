// A distributed worker's I/O thread: writes checkpoint shards (serialize, write, fsync, rename,
// hash; common/shard_files.h) in the order they were queued, and leaves a ShardWritten report (or
// an error report) for each in an outbox that the communication thread sends on. So a slow disk
// delays only the checkpoint that waits for the shard, never the heartbeats, state moves or
// releases that the communication thread handles meanwhile.
//
// The states' bytes are copied out of the state store on the communication thread before a job is
// queued (ShardJob owns them), so a Release that follows cannot free what is being written.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "evosearch/cluster.pb.h"
#include "evosearch/job.pb.h"
#include "evosearch/job_records.pb.h"

namespace evosearch {

// One shard to write, and the request its ShardWritten report answers.
struct ShardJob {
  uint64_t request = 0;
  uint32_t prompt = 0;
  std::string output_dir;
  std::string path;  // relative to output_dir
  std::vector<proto::StoredState> states;
};

// How a shard reaches the disk: write_shard (common/shard_files.h) unless a test injects another.
using ShardWriteFn = std::function<StatusOr<proto::ShardRef>(const std::string& output_dir, const std::string& path,
                                                             uint32_t prompt, std::vector<proto::StoredState> states)>;

class ShardWriter {
 public:
  explicit ShardWriter(ShardWriteFn write = nullptr);  // nullptr: write_shard
  ~ShardWriter();  // stop()
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Communication thread: queue a shard; returns at once.
  void push(ShardJob job);
  // Communication thread: lets the queue drain (every queued shard is written), then ends the thread.
  void stop();
  // Communication thread: the reports made so far, oldest first.
  std::vector<proto::WorkerReport> take_reports();
  // Any thread: shards queued or being written.
  size_t pending();

 private:
  void loop();

  const ShardWriteFn write_;  // called on the I/O thread only
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<ShardJob> queue_;               // guarded by mutex_
  std::vector<proto::WorkerReport> outbox_;  // guarded by mutex_
  size_t writing_ = 0;                       // guarded by mutex_: 1 while the I/O thread writes a shard
  bool stopping_ = false;                    // guarded by mutex_
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace evosearch
