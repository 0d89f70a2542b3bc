#include "cluster/data_plane.h"

#include "cluster/mpi_comms.h"

#include <mpi.h>

namespace evosearch {
namespace {

constexpr int kStateTag = 21;

class MpiDataPlane : public DataPlane {
 public:
  MpiDataPlane() : comm_(data_comm()) {}

  std::string name() const override { return "mpi"; }
  bool device_buffers() const override { return false; }

  Status exchange(const std::vector<Transfer>& sends, const std::vector<Transfer>& receives) override {
    std::vector<MPI_Request> requests;
    requests.reserve(sends.size() + receives.size());
    // Messages between one pair of ranks match in the order they were posted, on both sides.
    for (const Transfer& r : receives) {
      requests.emplace_back();
      if (MPI_Irecv(r.data, static_cast<int>(r.bytes), MPI_BYTE, r.peer, kStateTag, comm_, &requests.back()) != MPI_SUCCESS) {
        return Internal("data plane: receive from rank " + std::to_string(r.peer) + " failed");
      }
    }
    for (const Transfer& s : sends) {
      requests.emplace_back();
      if (MPI_Isend(s.data, static_cast<int>(s.bytes), MPI_BYTE, s.peer, kStateTag, comm_, &requests.back()) != MPI_SUCCESS) {
        return Internal("data plane: send to rank " + std::to_string(s.peer) + " failed");
      }
      bytes_sent_ += static_cast<int64_t>(s.bytes);
    }
    if (MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE) != MPI_SUCCESS) {
      return Internal("data plane: a state transfer failed");
    }
    return Status::Ok();
  }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
};

}  // namespace

std::unique_ptr<DataPlane> make_mpi_data_plane() { return std::make_unique<MpiDataPlane>(); }

}  // namespace evosearch
