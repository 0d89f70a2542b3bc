// The data plane: bulk state transfers between worker ranks, NCCL between GPUs or MPI
// otherwise, behind one interface. A call runs one round of sends and receives together (an
// NCCL group, or MPI non-blocking calls), so a round in which two ranks send each other states
// cannot deadlock; rounds are run in the same order on every rank.
//
// Contract (tests/data_plane_test.cc runs it against every implementation):
//   - several transfers between one pair of ranks in a round arrive in the order listed;
//   - every library call's result is checked and a failure names the call;
//   - no wait is unbounded: a round not done within `timeout_seconds` fails with
//     DeadlineExceeded naming its unfinished transfers;
//   - after exchange() returns, for any result, no receive is still posted into a caller's
//     buffer, and a send that could not be finished keeps its buffer alive (keep_alive) for as
//     long as the library may read it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cluster/mpi_session.h"
#include "common/status.h"

namespace evosearch {

struct Transfer {
  int peer = -1;  // world rank of the other side
  void* data = nullptr;
  size_t bytes = 0;
  // Sends of accelerator memory: the CUDA stream (cudaStream_t) that produced the bytes; the
  // NCCL plane's stream waits for it before sending. Null: the bytes are ready.
  void* ready_stream = nullptr;
  std::shared_ptr<void> keep_alive;  // owner of the bytes
};

struct DataPlaneOptions {
  double timeout_seconds = 300;  // the longest a round may take
};

class DataPlane {
 public:
  virtual ~DataPlane() = default;
  virtual std::string name() const = 0;
  // Buffers must be in accelerator memory (NCCL) rather than host memory (MPI).
  virtual bool device_buffers() const = 0;
  virtual Status exchange(const std::vector<Transfer>& sends, const std::vector<Transfer>& receives) = 0;
  int64_t bytes_sent() const { return bytes_sent_; }

 protected:
  int64_t bytes_sent_ = 0;
};

// MPI point-to-point on the session's data communicator.
std::unique_ptr<DataPlane> make_mpi_data_plane(const MpiSession& session, DataPlaneOptions options = {});

// NCCL over the ranks in `members` (world ranks, in order; this rank among them), on CUDA device
// `device`. The unique id is made by the first member and broadcast over MPI. Collective over
// the session: every rank calls it, members or not (non-members get nullptr). Needs a build
// with NCCL.
StatusOr<std::unique_ptr<DataPlane>> make_nccl_data_plane(const MpiSession& session, const std::vector<int>& members,
                                                          int device, DataPlaneOptions options = {});

bool nccl_available();

// Picks and opens the data plane, collectively on every rank. `choice`: "auto", "mpi" or
// "nccl". `device`: this rank's compute device ("cpu", "cuda:N"), empty when it runs no
// rollouts. auto takes NCCL when the build has it and every worker has a GPU of its own
// (NCCL cannot put two ranks on one GPU), MPI otherwise; `why` says which and why.
StatusOr<std::unique_ptr<DataPlane>> open_data_plane(const MpiSession& session, const std::string& choice,
                                                     const std::string& device, std::string& why,
                                                     DataPlaneOptions options = {});

// "receive of 4096 bytes from rank 2", for messages.
std::string describe_transfer(const Transfer& t, bool send);

}  // namespace evosearch
