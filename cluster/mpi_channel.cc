#include "cluster/mpi_channel.h"

#include <chrono>
#include <deque>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "cluster/mpi_comms.h"

namespace evosearch {

struct MpiChannel::Impl {
  MPI_Comm comm = MPI_COMM_NULL;
  double drain_seconds = 10;
  struct Pending {
    MPI_Request request = MPI_REQUEST_NULL;
    int destination = -1;
    std::unique_ptr<std::string> bytes;  // stable address while MPI reads it
  };
  std::deque<Pending> pending;

  Status progress() {
    while (!pending.empty()) {
      int done = 0;
      RETURN_IF_ERROR(mpi_status(MPI_Test(&pending.front().request, &done, MPI_STATUS_IGNORE),
                                 "MPI_Test (a send to rank " + std::to_string(pending.front().destination) + ")"));
      if (!done) break;
      pending.pop_front();
    }
    return Status::Ok();
  }
};

MpiChannel::MpiChannel(const MpiSession& session, double drain_seconds) : impl_(std::make_unique<Impl>()) {
  impl_->comm = session.comms().control;
  impl_->drain_seconds = drain_seconds;
}

MpiChannel::~MpiChannel() {
  const Status drained = flush(impl_->drain_seconds);
  if (drained.ok()) return;
  spdlog::warn("control plane: {}; cancelling them", drained.message());
  for (Impl::Pending& p : impl_->pending) {
    MPI_Cancel(&p.request);
    MPI_Request_free(&p.request);
    // MPI may still read these bytes: leak them rather than free them under it (on purpose, so
    // the leak checker of a sanitizer build is told to ignore them).
    std::string* kept = p.bytes.release();
#if defined(__SANITIZE_ADDRESS__)
    __lsan_ignore_object(kept);  // an ignored object is a root: its buffer counts as reachable
#else
    (void)kept;
#endif
  }
}

size_t MpiChannel::queued() const { return impl_->pending.size(); }

Status MpiChannel::send(int destination, int tag, const google::protobuf::Message& message) {
  Impl::Pending p;
  p.destination = destination;
  p.bytes = std::make_unique<std::string>();
  if (!message.SerializeToString(p.bytes.get())) return Internal("cannot serialise a control message");
  const int rc = MPI_Isend(p.bytes->data(), static_cast<int>(p.bytes->size()), MPI_BYTE, destination, tag, impl_->comm,
                           &p.request);
  RETURN_IF_ERROR(mpi_status(rc, "MPI_Isend to rank " + std::to_string(destination)));
  impl_->pending.push_back(std::move(p));
  return impl_->progress();
}

StatusOr<std::optional<Envelope>> MpiChannel::try_receive(int tag) {
  RETURN_IF_ERROR(impl_->progress());
  int found = 0;
  MPI_Message handle;
  MPI_Status status;
  RETURN_IF_ERROR(mpi_status(MPI_Improbe(MPI_ANY_SOURCE, tag, impl_->comm, &found, &handle, &status), "MPI_Improbe"));
  if (!found) return std::optional<Envelope>();
  int count = 0;
  RETURN_IF_ERROR(mpi_status(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count"));
  Envelope e;
  e.source = status.MPI_SOURCE;
  e.bytes.resize(static_cast<size_t>(count));
  RETURN_IF_ERROR(mpi_status(MPI_Mrecv(e.bytes.data(), count, MPI_BYTE, &handle, MPI_STATUS_IGNORE),
                             "MPI_Mrecv from rank " + std::to_string(e.source)));
  return std::optional<Envelope>(std::move(e));
}

Status MpiChannel::flush(double timeout_seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  Backoff backoff;
  for (;;) {
    RETURN_IF_ERROR(impl_->progress());
    if (impl_->pending.empty()) return Status::Ok();
    if (std::chrono::steady_clock::now() >= deadline) break;
    backoff.idle();
  }
  std::set<int> ranks;
  for (const Impl::Pending& p : impl_->pending) ranks.insert(p.destination);
  std::string names;
  for (int r : ranks) names += (names.empty() ? "" : ", ") + std::to_string(r);
  return DeadlineExceeded(std::to_string(impl_->pending.size()) + " control messages to rank(s) " + names +
                          " were not taken within " + std::to_string(timeout_seconds) + " s");
}

void Backoff::idle() {
  ++spins_;
  if (spins_ < 64) return;
  const int micros = std::min(1000, 10 * (spins_ - 63));
  std::this_thread::sleep_for(std::chrono::microseconds(micros));
}

}  // namespace evosearch
