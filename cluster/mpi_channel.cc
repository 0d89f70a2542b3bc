#include "cluster/mpi_channel.h"

#include "cluster/mpi_comms.h"

#include <mpi.h>

#include <chrono>
#include <deque>
#include <thread>

namespace evosearch {

namespace {
MPI_Comm g_control = MPI_COMM_NULL;
MPI_Comm g_data = MPI_COMM_NULL;
}  // namespace

MPI_Comm control_comm() { return g_control; }
MPI_Comm data_comm() { return g_data; }

namespace {

std::string mpi_error(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, length);
}

}  // namespace

StatusOr<std::unique_ptr<MpiSession>> MpiSession::start(bool multiple_threads) {
  const int wanted = multiple_threads ? MPI_THREAD_MULTIPLE : MPI_THREAD_FUNNELED;
  int provided = 0;
  int argc = 0;
  char** argv = nullptr;
  const int rc = MPI_Init_thread(&argc, &argv, wanted, &provided);
  if (rc != MPI_SUCCESS) return Internal("MPI_Init_thread failed: " + mpi_error(rc));
  std::unique_ptr<MpiSession> session(new MpiSession());
  MPI_Comm_rank(MPI_COMM_WORLD, &session->rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &session->size_);
  // Errors come back as codes we report, instead of MPI aborting without a word.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  // Private communicators for the two planes, so their messages never meet anyone else's.
  MPI_Comm_dup(MPI_COMM_WORLD, &g_control);
  MPI_Comm_dup(MPI_COMM_WORLD, &g_data);
  MPI_Comm_set_errhandler(g_control, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(g_data, MPI_ERRORS_RETURN);
  if (provided < wanted) {
    return FailedPrecondition("this MPI library does not support MPI_THREAD_MULTIPLE, which --coordinator-computes "
                              "needs; run without it (rank 0 then only coordinates)");
  }
  return session;
}

MpiSession::~MpiSession() {
  MPI_Comm_free(&g_control);
  MPI_Comm_free(&g_data);
  MPI_Finalize();
}

void MpiSession::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

struct MpiChannel::Impl {
  MPI_Comm comm = MPI_COMM_NULL;
  struct Pending {
    MPI_Request request;
    std::string bytes;
  };
  std::deque<Pending> pending;

  Status progress() {
    while (!pending.empty()) {
      int done = 0;
      const int rc = MPI_Test(&pending.front().request, &done, MPI_STATUS_IGNORE);
      if (rc != MPI_SUCCESS) return Internal("MPI send failed: " + mpi_error(rc));
      if (!done) break;
      pending.pop_front();
    }
    return Status::Ok();
  }
};

MpiChannel::MpiChannel() : impl_(std::make_unique<Impl>()) { impl_->comm = control_comm(); }

MpiChannel::~MpiChannel() { (void)flush(); }

Status MpiChannel::send(int destination, int tag, const google::protobuf::Message& message) {
  Impl::Pending p;
  if (!message.SerializeToString(&p.bytes)) return Internal("cannot serialise a control message");
  impl_->pending.push_back(std::move(p));
  Impl::Pending& queued = impl_->pending.back();  // deque: the address stays valid
  const int rc = MPI_Isend(queued.bytes.data(), static_cast<int>(queued.bytes.size()), MPI_BYTE, destination, tag,
                           impl_->comm, &queued.request);
  if (rc != MPI_SUCCESS) {
    impl_->pending.pop_back();
    return Internal("MPI send to rank " + std::to_string(destination) + " failed: " + mpi_error(rc));
  }
  return impl_->progress();
}

StatusOr<std::optional<Envelope>> MpiChannel::try_receive(int tag) {
  RETURN_IF_ERROR(impl_->progress());
  int found = 0;
  MPI_Message handle;
  MPI_Status status;
  int rc = MPI_Improbe(MPI_ANY_SOURCE, tag, impl_->comm, &found, &handle, &status);
  if (rc != MPI_SUCCESS) return Internal("MPI probe failed: " + mpi_error(rc));
  if (!found) return std::optional<Envelope>();
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  Envelope e;
  e.source = status.MPI_SOURCE;
  e.bytes.resize(static_cast<size_t>(count));
  rc = MPI_Mrecv(e.bytes.data(), count, MPI_BYTE, &handle, MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS) return Internal("MPI receive from rank " + std::to_string(e.source) + " failed: " + mpi_error(rc));
  return std::optional<Envelope>(std::move(e));
}

Status MpiChannel::flush() {
  Backoff backoff;
  while (!impl_->pending.empty()) {
    RETURN_IF_ERROR(impl_->progress());
    if (!impl_->pending.empty()) backoff.idle();
  }
  return Status::Ok();
}

void Backoff::idle() {
  ++spins_;
  if (spins_ < 64) return;
  const int micros = std::min(1000, 10 * (spins_ - 63));
  std::this_thread::sleep_for(std::chrono::microseconds(micros));
}

}  // namespace evosearch
