// A worker's shard writer (its I/O thread): a slow shard write holds up nothing on the
// communication thread (the heartbeats go on), shards are answered in order, a failed or throwing
// write becomes an error report, and stopping writes every shard queued.
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "common/shard_files.h"
#include "common/state_key.h"
#include "gate.h"
#include "tiny_bundle.h"
#include "worker/shard_writer.h"

namespace evosearch {
namespace {

using testing_support::Gate;

ShardJob job(uint64_t request, const std::string& dir = "", int states = 1) {
  ShardJob j;
  j.request = request;
  j.prompt = 3;
  j.output_dir = dir;
  j.path = "state/shards/prompt-00003-g00" + std::to_string(request) + "-t1-r1.shard";
  for (int i = 0; i < states; ++i) {
    proto::StoredState& s = j.states.emplace_back();
    *s.mutable_ref() = state_ref(static_cast<uint32_t>(request), static_cast<uint32_t>(i), 4);
    s.set_state(std::string(64, static_cast<char>('a' + i)));
  }
  return j;
}

// Waits (polling, as the communication loop does) until `n` reports have come, or 30 s passed.
std::vector<proto::WorkerReport> reports(ShardWriter& writer, size_t n) {
  std::vector<proto::WorkerReport> all;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (all.size() < n && std::chrono::steady_clock::now() < deadline) {
    for (proto::WorkerReport& r : writer.take_reports()) all.push_back(std::move(r));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return all;
}

TEST(ShardWriter, ASlowWriteLeavesTheCommunicationThreadFree) {
  Gate gate;
  std::thread::id writer_thread;
  bool opened = false;
  ShardWriter writer([&](const std::string&, const std::string& path, uint32_t, std::vector<proto::StoredState> states) {
    writer_thread = std::this_thread::get_id();
    opened = gate.wait(std::chrono::seconds(30));  // a disk that takes as long as the test likes
    proto::ShardRef ref;
    ref.set_path(path);
    for (const proto::StoredState& s : states) *ref.add_states() = s.ref();
    return StatusOr<proto::ShardRef>(ref);
  });
  writer.push(job(1));
  // push() came back with the write still at the gate: the communication loop goes on (heartbeats,
  // releases, state moves) while the shard is being written, and finds no report yet.
  EXPECT_TRUE(writer.take_reports().empty());
  EXPECT_EQ(writer.pending(), 1u);
  gate.open();
  const std::vector<proto::WorkerReport> done = reports(writer, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(opened) << "push() waited for the write (it ran on the caller's thread)";
  EXPECT_NE(writer_thread, std::this_thread::get_id());
  ASSERT_TRUE(done[0].has_shard_written()) << done[0].DebugString();
  EXPECT_EQ(done[0].shard_written().request(), 1u);
  EXPECT_EQ(done[0].shard_written().shard().states_size(), 1);
  EXPECT_EQ(writer.pending(), 0u);
}

TEST(ShardWriter, AnswersInOrderAndFailedOrThrowingWritesBecomeErrorReports) {
  ShardWriter writer([](const std::string&, const std::string& path, uint32_t, std::vector<proto::StoredState>) {
    if (path.find("g002") != std::string::npos) return StatusOr<proto::ShardRef>(Internal("No space left on device"));
    if (path.find("g003") != std::string::npos) throw std::runtime_error("std::bad_alloc");
    proto::ShardRef ref;
    ref.set_path(path);
    return StatusOr<proto::ShardRef>(ref);
  });
  for (uint64_t r = 1; r <= 4; ++r) writer.push(job(r));
  const std::vector<proto::WorkerReport> done = reports(writer, 4);
  ASSERT_EQ(done.size(), 4u);
  ASSERT_TRUE(done[0].has_shard_written());
  EXPECT_EQ(done[0].shard_written().request(), 1u);
  ASSERT_TRUE(done[1].has_error());
  EXPECT_NE(done[1].error().message().find("No space left on device"), std::string::npos) << done[1].error().message();
  EXPECT_NE(done[1].error().message().find("checkpoint shard"), std::string::npos) << done[1].error().message();
  ASSERT_TRUE(done[2].has_error());
  EXPECT_NE(done[2].error().message().find("bad_alloc"), std::string::npos) << done[2].error().message();
  ASSERT_TRUE(done[3].has_shard_written());
  EXPECT_EQ(done[3].shard_written().request(), 4u);
}

TEST(ShardWriter, StopWritesEveryQueuedShardDurably) {
  const std::string dir = testing_support::fresh_dir("shard-writer");
  ShardWriter writer;  // the real write_shard
  for (uint64_t r = 1; r <= 3; ++r) writer.push(job(r, dir, 2));
  writer.stop();
  const std::vector<proto::WorkerReport> done = writer.take_reports();
  ASSERT_EQ(done.size(), 3u);
  for (uint64_t r = 1; r <= 3; ++r) {
    const proto::WorkerReport& report = done[r - 1];
    ASSERT_TRUE(report.has_shard_written()) << report.DebugString();
    EXPECT_EQ(report.shard_written().request(), r);
    auto shard = read_shard(dir, report.shard_written().shard(), 3);
    ASSERT_TRUE(shard.ok()) << shard.status().to_string();
    ASSERT_EQ(shard->states_size(), 2);
    EXPECT_EQ(shard->states(1).state(), std::string(64, 'b'));
    EXPECT_EQ(shard->states(1).ref().generation(), r);
  }
}

}  // namespace
}  // namespace evosearch
