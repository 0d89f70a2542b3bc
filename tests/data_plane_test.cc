// The data-plane contract, one suite for every implementation: run under mpirun with any number
// of ranks (MPI plane), and with one rank on a CUDA machine for the NCCL plane (a rank sending
// to itself). Each rank checks what it received; any failure makes mpirun fail.
#include <mpi.h>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cluster/data_plane.h"
#include "cluster/mpi_session.h"

#ifdef EVOSEARCH_WITH_CUDA
#include <torch/cuda.h>
#endif

namespace evosearch {
namespace {

int g_rank = 0, g_size = 1;
const MpiSession* g_session = nullptr;

bool have_cuda() {
#ifdef EVOSEARCH_WITH_CUDA
  return torch::cuda::is_available();
#else
  return false;
#endif
}

class DataPlaneContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "nccl") {
      if (!nccl_available() || !have_cuda()) GTEST_SKIP() << "needs a build with NCCL and a CUDA device";
      if (g_size != 1) GTEST_SKIP() << "one GPU holds one NCCL rank: the NCCL contract runs with one rank";
    }
    plane_ = make_plane(DataPlaneOptions{});
  }

  std::unique_ptr<DataPlane> make_plane(DataPlaneOptions options) {
    if (GetParam() == "mpi") return make_mpi_data_plane(*g_session, options);
    auto p = make_nccl_data_plane(*g_session, {0}, 0, options);
    EXPECT_TRUE(p.ok()) << p.status().to_string();
    return p.ok() ? std::move(*p) : nullptr;
  }

  // A buffer of `n` floats where the plane wants it, filled with `value + i`.
  at::Tensor buffer(int64_t n, float value) {
    at::Tensor host = at::arange(n, at::kFloat) + value;
    return plane_->device_buffers() ? host.to(at::Device(at::kCUDA, 0)) : host;
  }
  at::Tensor empty(int64_t n) {
    return at::full({n}, -1.0f, at::TensorOptions().device(plane_->device_buffers() ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU)));
  }
  static Transfer transfer(int peer, at::Tensor& t) {
    Transfer transfer;
    transfer.peer = peer;
    transfer.data = t.data_ptr();
    transfer.bytes = static_cast<size_t>(t.numel() * t.element_size());
    return transfer;
  }
  static void expect_filled(const at::Tensor& t, float value) {
    EXPECT_TRUE(t.cpu().equal(at::arange(t.numel(), at::kFloat) + value)) << "first value " << t.cpu()[0].item<float>();
  }

  std::unique_ptr<DataPlane> plane_;
};

// Every rank sends to the next and receives from the previous in one round (with one rank,
// to itself).
TEST_P(DataPlaneContract, RingInOneRound) {
  const int next = (g_rank + 1) % g_size, previous = (g_rank + g_size - 1) % g_size;
  at::Tensor out = buffer(1000, 100.0f * g_rank), in = empty(1000);
  ASSERT_TRUE(plane_->exchange({transfer(next, out)}, {transfer(previous, in)}).ok());
  expect_filled(in, 100.0f * previous);
}

// Two ranks sending each other at once must not deadlock, whatever the message size.
TEST_P(DataPlaneContract, SwapLargeStatesBothWays) {
  const int64_t n = 4 * 1024 * 1024;  // 16 MB, beyond any eager limit
  const int partner = g_rank ^ 1;
  if (partner >= g_size) {
    at::Tensor out = buffer(n, 7.0f), in = empty(n);  // odd one out: to itself
    ASSERT_TRUE(plane_->exchange({transfer(g_rank, out)}, {transfer(g_rank, in)}).ok());
    expect_filled(in, 7.0f);
    return;
  }
  at::Tensor out = buffer(n, 1000.0f * g_rank), in = empty(n);
  ASSERT_TRUE(plane_->exchange({transfer(partner, out)}, {transfer(partner, in)}).ok());
  expect_filled(in, 1000.0f * partner);
}

// Several states between the same pair in one round arrive in the order they were listed, and
// rounds keep their order.
TEST_P(DataPlaneContract, SeveralStatesKeepTheirOrder) {
  const int next = (g_rank + 1) % g_size, previous = (g_rank + g_size - 1) % g_size;
  for (int round = 0; round < 3; ++round) {
    std::vector<at::Tensor> outs, ins;
    std::vector<Transfer> sends, receives;
    for (int k = 0; k < 4; ++k) {
      outs.push_back(buffer(64 + k, 10.0f * k + 1000.0f * round + 100000.0f * g_rank));
      ins.push_back(empty(64 + k));
    }
    for (int k = 0; k < 4; ++k) {
      sends.push_back(transfer(next, outs[k]));
      receives.push_back(transfer(previous, ins[k]));
    }
    ASSERT_TRUE(plane_->exchange(sends, receives).ok());
    for (int k = 0; k < 4; ++k) expect_filled(ins[k], 10.0f * k + 1000.0f * round + 100000.0f * previous);
  }
}

TEST_P(DataPlaneContract, EmptyRoundAndByteCount) {
  const int64_t before = plane_->bytes_sent();
  ASSERT_TRUE(plane_->exchange({}, {}).ok());
  EXPECT_EQ(plane_->bytes_sent(), before);
  const int next = (g_rank + 1) % g_size, previous = (g_rank + g_size - 1) % g_size;
  at::Tensor out = buffer(256, 0.0f), in = empty(256);
  ASSERT_TRUE(plane_->exchange({transfer(next, out)}, {transfer(previous, in)}).ok());
  EXPECT_EQ(plane_->bytes_sent(), before + 1024);
}

// A receive whose sender never sends fails within the plane's timeout, naming the transfer, and is
// withdrawn: a message sent afterwards lands in a fresh receive and never in the stale buffer.
TEST_P(DataPlaneContract, UnansweredReceiveTimesOutAndIsWithdrawn) {
  const int next = (g_rank + 1) % g_size, previous = (g_rank + g_size - 1) % g_size;
  std::unique_ptr<DataPlane> impatient = make_plane(DataPlaneOptions{0.5});
  ASSERT_TRUE(impatient);
  at::Tensor stale = empty(256);
  const Status timed_out = impatient->exchange({}, {transfer(previous, stale)});
  EXPECT_EQ(timed_out.code(), StatusCode::kDeadlineExceeded) << timed_out.to_string();
  EXPECT_NE(timed_out.message().find("receive of 1024 bytes from rank " + std::to_string(previous)), std::string::npos)
      << timed_out.message();
  MPI_Barrier(MPI_COMM_WORLD);  // every rank has given up before anyone sends
  at::Tensor out = buffer(256, 5.0f + g_rank), fresh = empty(256);
  ASSERT_TRUE(plane_->exchange({transfer(next, out)}, {transfer(previous, fresh)}).ok());
  expect_filled(fresh, 5.0f + previous);
  EXPECT_TRUE(stale.cpu().eq(-1.0f).all().item<bool>()) << "the withdrawn receive was written to";
}

INSTANTIATE_TEST_SUITE_P(Planes, DataPlaneContract, ::testing::Values("mpi", "nccl"),
                         [](const auto& info) { return info.param; });

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
  evosearch::g_rank = (*session)->rank();
  evosearch::g_size = (*session)->size();
  // Only rank 0 prints gtest's report; every rank's failures count.
  if (evosearch::g_rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS();
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return failed;
}
