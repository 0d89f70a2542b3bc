// The data plane: bulk state transfers between worker ranks, NCCL between GPUs or MPI
// otherwise, behind one interface. A call runs one round of sends and receives together (an
// NCCL group, or MPI non-blocking calls and a wait), so a round in which two ranks send each
// other states cannot deadlock; rounds are run in the same order on every rank.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace evosearch {

struct Transfer {
  int peer = -1;  // world rank of the other side
  void* data = nullptr;
  size_t bytes = 0;
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

// MPI point-to-point on the session's private duplicate of MPI_COMM_WORLD (after MpiSession::start).
std::unique_ptr<DataPlane> make_mpi_data_plane();

// NCCL over the ranks in `members` (world ranks, in order; this rank among them), on CUDA device
// `device`. The unique id is made by the first member and broadcast over MPI. Collective over
// MPI_COMM_WORLD: every rank calls it, members or not (non-members get nullptr). Needs a build
// with NCCL.
StatusOr<std::unique_ptr<DataPlane>> make_nccl_data_plane(const std::vector<int>& members, int device);

bool nccl_available();

}  // namespace evosearch

namespace evosearch {

// Picks and opens the data plane, collectively on every rank. `choice`: "auto", "mpi" or
// "nccl". `device`: this rank's compute device ("cpu", "cuda:N"), empty when it runs no
// rollouts. auto takes NCCL when the build has it and every worker has a GPU of its own
// (NCCL cannot put two ranks on one GPU), MPI otherwise; `why` says which and why.
StatusOr<std::unique_ptr<DataPlane>> open_data_plane(const std::string& choice, const std::string& device, std::string& why);

}  // namespace evosearch
