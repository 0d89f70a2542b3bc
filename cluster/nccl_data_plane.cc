// The NCCL data plane (built only with NCCL); without NCCL the factory says so.
#include <mpi.h>

#include <algorithm>

#include "cluster/data_plane.h"

#ifdef EVOSEARCH_WITH_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#endif

namespace evosearch {

#ifdef EVOSEARCH_WITH_NCCL
namespace {

std::string cuda_error(cudaError_t e) { return cudaGetErrorString(e); }

class NcclDataPlane : public DataPlane {
 public:
  NcclDataPlane(std::vector<int> members, int index) : members_(std::move(members)), index_(index) {}
  ~NcclDataPlane() override {
    if (comm_) ncclCommDestroy(comm_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  Status init(const ncclUniqueId& id, int device) {
    if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess) return Internal("NCCL data plane: cudaSetDevice: " + cuda_error(e));
    if (cudaError_t e = cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking); e != cudaSuccess) {
      return Internal("NCCL data plane: cudaStreamCreate: " + cuda_error(e));
    }
    const ncclResult_t r = ncclCommInitRank(&comm_, static_cast<int>(members_.size()), id, index_);
    if (r != ncclSuccess) return Internal(std::string("NCCL data plane: ncclCommInitRank: ") + ncclGetErrorString(r));
    return Status::Ok();
  }

  std::string name() const override { return "nccl"; }
  bool device_buffers() const override { return true; }

  Status exchange(const std::vector<Transfer>& sends, const std::vector<Transfer>& receives) override {
    ncclGroupStart();
    for (const Transfer& s : sends) {
      ncclSend(s.data, s.bytes, ncclChar, peer(s.peer), comm_, stream_);
      bytes_sent_ += static_cast<int64_t>(s.bytes);
    }
    for (const Transfer& r : receives) ncclRecv(r.data, r.bytes, ncclChar, peer(r.peer), comm_, stream_);
    const ncclResult_t result = ncclGroupEnd();
    if (result != ncclSuccess) return Internal(std::string("NCCL data plane: ") + ncclGetErrorString(result));
    if (cudaError_t e = cudaStreamSynchronize(stream_); e != cudaSuccess) {
      return Internal("NCCL data plane: transfer failed: " + cuda_error(e));
    }
    return Status::Ok();
  }

 private:
  int peer(int world_rank) const {
    return static_cast<int>(std::find(members_.begin(), members_.end(), world_rank) - members_.begin());
  }

  std::vector<int> members_;
  int index_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

bool nccl_available() { return true; }

StatusOr<std::unique_ptr<DataPlane>> make_nccl_data_plane(const std::vector<int>& members, int device) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  ncclUniqueId id{};
  if (!members.empty() && rank == members[0]) ncclGetUniqueId(&id);
  // Every rank takes part in the broadcast; only members use the id.
  MPI_Bcast(&id, sizeof id, MPI_BYTE, members.empty() ? 0 : members[0], MPI_COMM_WORLD);
  const auto it = std::find(members.begin(), members.end(), rank);
  if (it == members.end()) return std::unique_ptr<DataPlane>();
  auto plane = std::make_unique<NcclDataPlane>(members, static_cast<int>(it - members.begin()));
  RETURN_IF_ERROR(plane->init(id, device));
  return std::unique_ptr<DataPlane>(std::move(plane));
}

#else

bool nccl_available() { return false; }

StatusOr<std::unique_ptr<DataPlane>> make_nccl_data_plane(const std::vector<int>&, int) {
  return FailedPrecondition("this build has no NCCL (configure with -DEVOSEARCH_NCCL=ON on a CUDA machine)");
}

#endif

}  // namespace evosearch
