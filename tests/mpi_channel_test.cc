// The control channel under mpirun with 2 ranks: messages arrive, and a channel whose peer never
// takes a large message is still destroyed within its drain time (it used to wait forever).
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include <gtest/gtest.h>

#include "cluster/mpi_channel.h"
#include "evosearch/cluster.pb.h"

namespace evosearch {
namespace {

const MpiSession* g_session = nullptr;

proto::WorkerCommand command_of_size(size_t bytes) {
  proto::WorkerCommand c;
  c.mutable_add_prompt()->set_text(std::string(bytes, 'x'));
  return c;
}

TEST(MpiChannel, MessagesArriveWhole) {
  MpiChannel channel(*g_session);
  const int peer = 1 - g_session->rank();
  ASSERT_TRUE(channel.send(peer, kCommandTag, command_of_size(100000)).ok());
  std::optional<Envelope> got;
  for (int i = 0; i < 10000 && !got; ++i) {
    auto received = channel.try_receive(kCommandTag);
    ASSERT_TRUE(received.ok()) << received.status().to_string();
    got = std::move(*received);
    if (!got) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->source, peer);
  proto::WorkerCommand c;
  ASSERT_TRUE(c.ParseFromString(got->bytes));
  EXPECT_EQ(c.add_prompt().text().size(), 100000u);
  EXPECT_TRUE(channel.flush(10).ok());
}

// Rank 0 queues 64 MB (beyond any eager limit, so the send needs the receiver) that rank 1 does
// not take until rank 0 has destroyed its channel.
TEST(MpiChannel, DestructorDoesNotWaitForeverOnAPeerThatTakesNothing) {
  const auto start = std::chrono::steady_clock::now();
  if (g_session->rank() == 0) {
    {
      MpiChannel channel(*g_session, 1.0);
      ASSERT_TRUE(channel.send(1, kCommandTag, command_of_size(64u << 20)).ok());
      const Status flushed = channel.flush(0.5);
      EXPECT_EQ(flushed.code(), StatusCode::kDeadlineExceeded) << flushed.to_string();
      EXPECT_NE(flushed.message().find("rank(s) 1"), std::string::npos) << flushed.message();
    }
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("channel destroyed %.2f s after the send\n", took);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_session->rank() == 1) {
    // Take the message if it is still there, so every rank can finish cleanly.
    MpiChannel channel(*g_session);
    for (int i = 0; i < 200; ++i) {
      auto received = channel.try_receive(kCommandTag);
      ASSERT_TRUE(received.ok());
      if (*received) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
}  // namespace evosearch

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto session = evosearch::MpiSession::start(false);
  if (!session.ok()) {
    std::fprintf(stderr, "%s\n", session.status().to_string().c_str());
    return 1;
  }
  evosearch::g_session = session->get();
  if ((*session)->size() != 2) {
    std::fprintf(stderr, "run under mpirun -n 2\n");
    return 1;
  }
  if ((*session)->rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS();
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return failed;
}
