// A worker's communication loop while a checkpoint shard is being written to a slow disk: it
// keeps sending heartbeats and keeps taking commands (a Release), so the coordinator's hung-worker
// check never stops a healthy job for a slow disk. Runs in one MPI process (mpirun -n 1): the
// worker loop on a thread of its own, this thread playing the coordinator, as rank 0 does when it
// also computes.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "cluster/data_plane.h"
#include "cluster/mpi_channel.h"
#include "cluster/mpi_session.h"
#include "common/state_key.h"
#include "gate.h"
#include "tiny_bundle.h"
#include "worker/worker_loop.h"

namespace evosearch {
namespace {

const MpiSession* g_session = nullptr;

using testing_support::Gate;  // opened once the worker has taken a Release for prompt 1

// Resident states of one float each; releasing prompt 1 opens the gate. No model.
class GateBackend final : public Backend {
 public:
  explicit GateBackend(Gate& gate) : gate_(gate) {}
  Status add_prompt(uint32_t, const std::string&, uint64_t) override { return Status::Ok(); }
  StatusOr<std::vector<proto::PromptRolloutResult>> run(const std::vector<proto::PromptRolloutTask>&) override {
    return Internal("no model here");
  }
  StatusOr<std::vector<Image>> decode(uint32_t, const proto::StateRef&) override { return Internal("no model here"); }
  StatusOr<std::vector<double>> score(uint32_t, const proto::StateRef&) override { return Internal("no model here"); }
  void release_all_but(uint32_t, const std::vector<proto::StateRef>&) override {}
  void release_prompt(uint32_t prompt) override {
    if (prompt == 1) gate_.open();
  }
  StatusOr<std::vector<proto::StoredState>> export_states(uint32_t, const std::vector<proto::StateRef>& refs) override {
    std::vector<proto::StoredState> out;
    for (const proto::StateRef& r : refs) {
      proto::StoredState& s = out.emplace_back();
      *s.mutable_ref() = r;
      s.set_state(std::string(4, '\0'));
    }
    return out;
  }
  Status import_states(uint32_t, const google::protobuf::RepeatedPtrField<proto::StoredState>&) override {
    return Status::Ok();
  }
  StatusOr<StateBuffer> outgoing(uint32_t, const proto::StateRef&, bool, bool) override { return Internal("no moves"); }
  StatusOr<StateBuffer> incoming(bool, bool) override { return Internal("no moves"); }
  Status store_incoming(uint32_t, const proto::StateRef&, bool, const StateBuffer&) override {
    return Internal("no moves");
  }
  int64_t state_bytes() const override { return 4; }
  std::string device() const override { return "cpu"; }
  double model_seconds() const override { return 0; }
  int64_t steps_done() const override { return 0; }

 private:
  Gate& gate_;
};

// The next report for the coordinator, or nothing after 30 s.
std::optional<proto::WorkerReport> next_report(MpiChannel& channel) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    auto message = channel.try_receive(kReportTag);
    if (!message.ok()) return std::nullopt;
    if (*message) {
      proto::WorkerReport r;
      if (!r.ParseFromString((*message)->bytes)) return std::nullopt;
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return std::nullopt;
}

// This thread as the coordinator: a WriteShard, then heartbeats only until a Release lets the
// write finish, then its ShardWritten.
void coordinate(MpiChannel& coordinator, int rank) {
  auto hello = next_report(coordinator);
  ASSERT_TRUE(hello && hello->has_hello());

  proto::WorkerCommand write;
  write.mutable_write_shard()->set_request(7);
  write.mutable_write_shard()->set_prompt(1);
  *write.mutable_write_shard()->add_refs() = state_ref(0, 0, 4);
  write.mutable_write_shard()->set_output_dir(testing_support::fresh_dir("worker-loop"));
  write.mutable_write_shard()->set_path("state/shards/prompt-00001-g001-t1-r0.shard");
  ASSERT_TRUE(coordinator.send(rank, kCommandTag, write).ok());
  // The shard cannot be written before the Release below: every report now must be a heartbeat.
  int heartbeats = 0;
  while (heartbeats < 5) {
    auto r = next_report(coordinator);
    ASSERT_TRUE(r.has_value()) << "the worker fell silent while writing a shard";
    ASSERT_TRUE(r->has_heartbeat()) << r->DebugString();
    ++heartbeats;
  }
  proto::WorkerCommand release;
  release.mutable_release()->set_prompt(1);
  release.mutable_release()->set_all(true);
  ASSERT_TRUE(coordinator.send(rank, kCommandTag, release).ok());
  std::optional<proto::WorkerReport> written;
  while ((written = next_report(coordinator)) && written->has_heartbeat()) {
  }
  ASSERT_TRUE(written.has_value());
  ASSERT_TRUE(written->has_shard_written()) << written->DebugString();
  EXPECT_EQ(written->shard_written().request(), 7u);
  EXPECT_EQ(written->shard_written().shard().states_size(), 1);
}

TEST(WorkerLoop, HeartbeatsAndCommandsGoOnWhileAShardIsWrittenSlowly) {
  Gate gate;
  GateBackend backend(gate);
  std::unique_ptr<DataPlane> plane = make_mpi_data_plane(*g_session);
  bool write_saw_release = false;
  WorkerLoopOptions options;
  options.coordinator = g_session->rank();
  options.heartbeat_seconds = 0.01;
  // A disk that takes until the worker has taken the coordinator's next command (at most 30 s).
  options.write_shard = [&](const std::string&, const std::string& path, uint32_t, std::vector<proto::StoredState> states) {
    write_saw_release = gate.wait(std::chrono::seconds(30));
    proto::ShardRef ref;
    ref.set_path(path);
    for (const proto::StoredState& s : states) *ref.add_states() = s.ref();
    return StatusOr<proto::ShardRef>(ref);
  };
  Status worker_status;
  std::thread worker([&] {
    MpiChannel channel(*g_session);
    worker_status = serve_worker(channel, *plane, backend, options);
  });
  MpiChannel coordinator(*g_session);
  coordinate(coordinator, g_session->rank());
  gate.open();  // whatever coordinate() found, the worker must be able to stop
  proto::WorkerCommand shutdown;
  shutdown.mutable_shutdown();
  EXPECT_TRUE(coordinator.send(g_session->rank(), kCommandTag, shutdown).ok());
  worker.join();
  EXPECT_TRUE(worker_status.ok()) << worker_status.to_string();
  EXPECT_TRUE(write_saw_release) << "the shard was written without waiting for the Release";
}

}  // namespace
}  // namespace evosearch

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto session = evosearch::MpiSession::start(true);  // two threads call MPI: the worker loop and this one
  if (!session.ok()) {
    std::fprintf(stderr, "%s\n", session.status().to_string().c_str());
    return 1;
  }
  evosearch::g_session = session->get();
  return RUN_ALL_TESTS();
}
