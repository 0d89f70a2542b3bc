// The NCCL data plane (built only with NCCL; without it the factory says so). As PyTorch's
// c10d does it: transfers run on the plane's own stream, which first waits (event record +
// wait) on every stream that produced a send buffer; every NCCL and CUDA call is checked and a
// failure names the call; waits are bounded by polling the stream against a deadline while
// watching the communicator's asynchronous error; on any failure, and in the destructor, the
// communicator is aborted (never merely destroyed, which could wait on a dead peer).
#include <algorithm>
#include <chrono>
#include <thread>

#include "cluster/data_plane.h"
#include "cluster/mpi_comms.h"

#ifdef EVOSEARCH_WITH_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#endif

namespace evosearch {

#ifdef EVOSEARCH_WITH_NCCL
namespace {

Status cuda_status(cudaError_t e, const std::string& call) {
  if (e == cudaSuccess) return Status::Ok();
  return Internal("NCCL data plane: " + call + ": " + cudaGetErrorString(e));
}

class NcclDataPlane : public DataPlane {
 public:
  NcclDataPlane(std::vector<int> members, int index, DataPlaneOptions options)
      : members_(std::move(members)), index_(index), options_(options) {}

  ~NcclDataPlane() override {
    if (comm_) ncclCommAbort(comm_);
    if (event_) cudaEventDestroy(event_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  Status init(const ncclUniqueId& id, int device) {
    device_ = device;
    RETURN_IF_ERROR(cuda_status(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")"));
    RETURN_IF_ERROR(cuda_status(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags"));
    RETURN_IF_ERROR(cuda_status(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming), "cudaEventCreateWithFlags"));
    return nccl(ncclCommInitRank(&comm_, static_cast<int>(members_.size()), id, index_), "ncclCommInitRank");
  }

  std::string name() const override { return "nccl"; }
  bool device_buffers() const override { return true; }

  Status exchange(const std::vector<Transfer>& sends, const std::vector<Transfer>& receives) override {
    if (!comm_) return FailedPrecondition("NCCL data plane: the communicator was aborted after an earlier error");
    // CUDA's current device is per thread: the caller may be another thread than the one that made the plane.
    RETURN_IF_ERROR(fail_on(cuda_status(cudaSetDevice(device_), "cudaSetDevice")));
    for (const Transfer& s : sends) {
      if (!s.ready_stream) continue;
      const auto producer = static_cast<cudaStream_t>(s.ready_stream);
      RETURN_IF_ERROR(fail_on(cuda_status(cudaEventRecord(event_, producer), "cudaEventRecord (send buffer ready)")));
      RETURN_IF_ERROR(fail_on(cuda_status(cudaStreamWaitEvent(stream_, event_, 0), "cudaStreamWaitEvent")));
    }
    RETURN_IF_ERROR(fail_on(nccl(ncclGroupStart(), "ncclGroupStart")));
    Status posted;
    for (const Transfer& s : sends) {
      if (!posted.ok()) break;
      posted = nccl(ncclSend(s.data, s.bytes, ncclChar, peer(s.peer), comm_, stream_), "ncclSend (" + describe_transfer(s, true) + ")");
      if (posted.ok()) bytes_sent_ += static_cast<int64_t>(s.bytes);
    }
    for (const Transfer& r : receives) {
      if (!posted.ok()) break;
      posted = nccl(ncclRecv(r.data, r.bytes, ncclChar, peer(r.peer), comm_, stream_), "ncclRecv (" + describe_transfer(r, false) + ")");
    }
    const Status ended = nccl(ncclGroupEnd(), "ncclGroupEnd");
    RETURN_IF_ERROR(fail_on(posted));
    RETURN_IF_ERROR(fail_on(ended));
    return fail_on(wait(sends, receives));
  }

 private:
  Status nccl(ncclResult_t r, const std::string& call) const {
    if (r == ncclSuccess) return Status::Ok();
    std::string detail = ncclGetErrorString(r);
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 13, 0)
    if (comm_) {
      const char* last = ncclGetLastError(comm_);
      if (last && *last) detail += " (" + std::string(last) + ")";
    }
#endif
    return Internal("NCCL data plane: " + call + ": " + detail);
  }

  // Polls the plane's stream until the round is done, the communicator reports an error, or the
  // deadline passes.
  Status wait(const std::vector<Transfer>& sends, const std::vector<Transfer>& receives) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(options_.timeout_seconds);
    for (;;) {
      const cudaError_t q = cudaStreamQuery(stream_);
      if (q == cudaSuccess) return Status::Ok();
      if (q != cudaErrorNotReady) return cuda_status(q, "cudaStreamQuery (state transfers)");
      ncclResult_t async = ncclSuccess;
      RETURN_IF_ERROR(nccl(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError"));
      if (async != ncclSuccess && async != ncclInProgress) return nccl(async, "a state transfer (asynchronous error)");
      if (std::chrono::steady_clock::now() >= deadline) {
        std::string what;
        for (const Transfer& s : sends) what += (what.empty() ? "" : "; ") + describe_transfer(s, true);
        for (const Transfer& r : receives) what += (what.empty() ? "" : "; ") + describe_transfer(r, false);
        return DeadlineExceeded("NCCL data plane: state transfers not finished within " +
                                std::to_string(options_.timeout_seconds) + " s: " + what);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  // After a failure the communicator is aborted, which ends its kernels, so the stream drains and
  // no transfer writes into a caller's buffer after exchange() returns.
  Status fail_on(Status s) {
    if (s.ok()) return s;
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    if (stream_) cudaStreamSynchronize(stream_);
    return s;
  }

  int peer(int world_rank) const {
    return static_cast<int>(std::find(members_.begin(), members_.end(), world_rank) - members_.begin());
  }

  std::vector<int> members_;
  int index_;
  DataPlaneOptions options_;
  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t event_ = nullptr;
};

}  // namespace

bool nccl_available() { return true; }

StatusOr<std::unique_ptr<DataPlane>> make_nccl_data_plane(const MpiSession& session, const std::vector<int>& members,
                                                          int device, DataPlaneOptions options) {
  const int rank = session.rank();
  ncclUniqueId id{};
  if (!members.empty() && rank == members[0]) {
    if (const ncclResult_t r = ncclGetUniqueId(&id); r != ncclSuccess) {
      return Internal(std::string("NCCL data plane: ncclGetUniqueId: ") + ncclGetErrorString(r));
    }
  }
  // Every rank takes part in the broadcast; only members use the id.
  RETURN_IF_ERROR(mpi_status(MPI_Bcast(&id, sizeof id, MPI_BYTE, members.empty() ? 0 : members[0], session.comms().data),
                             "MPI_Bcast (the NCCL unique id)"));
  const auto it = std::find(members.begin(), members.end(), rank);
  if (it == members.end()) return std::unique_ptr<DataPlane>();
  auto plane = std::make_unique<NcclDataPlane>(members, static_cast<int>(it - members.begin()), options);
  RETURN_IF_ERROR(plane->init(id, device));
  return std::unique_ptr<DataPlane>(std::move(plane));
}

#else

bool nccl_available() { return false; }

StatusOr<std::unique_ptr<DataPlane>> make_nccl_data_plane(const MpiSession&, const std::vector<int>&, int,
                                                          DataPlaneOptions) {
  return FailedPrecondition("this build has no NCCL (configure with -DEVOSEARCH_NCCL=ON on a CUDA machine)");
}

#endif

}  // namespace evosearch
