// The MPI data plane: non-blocking point-to-point calls on the session's data communicator,
// completed by polling against a deadline; on failure or timeout every posted receive is
// cancelled and completed before returning.
#include "cluster/data_plane.h"

#include <chrono>
#include <thread>

#include "cluster/mpi_comms.h"

namespace evosearch {

std::string describe_transfer(const Transfer& t, bool send) {
  return std::string(send ? "send" : "receive") + " of " + std::to_string(t.bytes) + " bytes " +
         (send ? "to" : "from") + " rank " + std::to_string(t.peer);
}

namespace {

constexpr int kStateTag = 21;

class MpiDataPlane : public DataPlane {
 public:
  MpiDataPlane(MPI_Comm comm, DataPlaneOptions options) : comm_(comm), options_(options) {}

  std::string name() const override { return "mpi"; }
  bool device_buffers() const override { return false; }

  Status exchange(const std::vector<Transfer>& sends, const std::vector<Transfer>& receives) override {
    Round round;
    // Messages between one pair of ranks match in the order they were posted, on both sides.
    for (const Transfer& r : receives) {
      MPI_Request request = MPI_REQUEST_NULL;
      const int rc = MPI_Irecv(r.data, static_cast<int>(r.bytes), MPI_BYTE, r.peer, kStateTag, comm_, &request);
      if (rc != MPI_SUCCESS) return abandon(round, mpi_status(rc, "MPI_Irecv (" + describe_transfer(r, false) + ")"));
      round.add(request, r, false);
    }
    for (const Transfer& s : sends) {
      MPI_Request request = MPI_REQUEST_NULL;
      const int rc = MPI_Isend(s.data, static_cast<int>(s.bytes), MPI_BYTE, s.peer, kStateTag, comm_, &request);
      if (rc != MPI_SUCCESS) return abandon(round, mpi_status(rc, "MPI_Isend (" + describe_transfer(s, true) + ")"));
      round.add(request, s, true);
      bytes_sent_ += static_cast<int64_t>(s.bytes);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(options_.timeout_seconds);
    int spins = 0;
    for (;;) {
      bool all_done = true;
      for (size_t i = 0; i < round.requests.size(); ++i) {
        if (round.requests[i] == MPI_REQUEST_NULL) continue;
        int done = 0;  // a completed request becomes MPI_REQUEST_NULL
        const int rc = MPI_Test(&round.requests[i], &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
          return abandon(round, mpi_status(rc, "MPI_Test (" + describe_transfer(round.transfers[i], round.is_send[i]) + ")"));
        }
        all_done = all_done && done;
      }
      if (all_done) return Status::Ok();
      if (std::chrono::steady_clock::now() >= deadline) {
        return abandon(round, DeadlineExceeded("data plane: state transfers not finished within " +
                                               std::to_string(options_.timeout_seconds) + " s: " + round.unfinished()));
      }
      if (++spins > 64) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

 private:
  struct Round {
    std::vector<MPI_Request> requests;
    std::vector<Transfer> transfers;
    std::vector<bool> is_send;

    void add(MPI_Request r, const Transfer& t, bool send) {
      requests.push_back(r);
      transfers.push_back(t);
      is_send.push_back(send);
    }
    std::string unfinished() const {
      std::string out;
      for (size_t i = 0; i < requests.size(); ++i) {
        if (requests[i] == MPI_REQUEST_NULL) continue;
        out += (out.empty() ? "" : "; ") + describe_transfer(transfers[i], is_send[i]);
      }
      return out;
    }
  };

  // Leaves no receive posted into a caller's buffer: receives are cancelled and completed (a
  // receive that matched meanwhile completes normally). Sends that cannot be taken back are
  // freed to MPI with their buffers kept alive here.
  Status abandon(Round& round, Status why) {
    for (size_t i = 0; i < round.requests.size(); ++i) {
      MPI_Request& request = round.requests[i];
      if (request == MPI_REQUEST_NULL) continue;
      MPI_Cancel(&request);
      if (round.is_send[i]) {
        MPI_Request_free(&request);
        if (round.transfers[i].keep_alive) stranded_.push_back(round.transfers[i].keep_alive);
      } else {
        MPI_Wait(&request, MPI_STATUS_IGNORE);
      }
    }
    return why;
  }

  MPI_Comm comm_;
  DataPlaneOptions options_;
  std::vector<std::shared_ptr<void>> stranded_;  // buffers of abandoned sends
};

}  // namespace

std::unique_ptr<DataPlane> make_mpi_data_plane(const MpiSession& session, DataPlaneOptions options) {
  return std::make_unique<MpiDataPlane>(session.comms().data, options);
}

}  // namespace evosearch
