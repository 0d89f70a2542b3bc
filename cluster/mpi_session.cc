#include "cluster/mpi_session.h"

#include <cstdlib>

#include "cluster/mpi_comms.h"

namespace evosearch {

std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<size_t>(length));
}

MpiSession::MpiSession() : comms_(std::make_unique<Comms>()) {}

StatusOr<std::unique_ptr<MpiSession>> MpiSession::start(bool multiple_threads) {
  const int wanted = multiple_threads ? MPI_THREAD_MULTIPLE : MPI_THREAD_FUNNELED;
  int provided = 0;
  int argc = 0;
  char** argv = nullptr;
  RETURN_IF_ERROR(mpi_status(MPI_Init_thread(&argc, &argv, wanted, &provided), "MPI_Init_thread"));
  std::unique_ptr<MpiSession> session(new MpiSession());
  // Errors come back as codes we report, instead of MPI aborting without a word.
  RETURN_IF_ERROR(mpi_status(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler"));
  RETURN_IF_ERROR(mpi_status(MPI_Comm_rank(MPI_COMM_WORLD, &session->rank_), "MPI_Comm_rank"));
  RETURN_IF_ERROR(mpi_status(MPI_Comm_size(MPI_COMM_WORLD, &session->size_), "MPI_Comm_size"));
  for (MPI_Comm* comm : {&session->comms_->control, &session->comms_->data}) {
    RETURN_IF_ERROR(mpi_status(MPI_Comm_dup(MPI_COMM_WORLD, comm), "MPI_Comm_dup"));
    RETURN_IF_ERROR(mpi_status(MPI_Comm_set_errhandler(*comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler"));
  }
  if (provided < wanted) {
    return FailedPrecondition("this MPI library does not support MPI_THREAD_MULTIPLE, which --coordinator-computes "
                              "needs; run without it (rank 0 then only coordinates)");
  }
  return session;
}

MpiSession::~MpiSession() {
  for (MPI_Comm* comm : {&comms_->control, &comms_->data}) {
    if (*comm != MPI_COMM_NULL) MPI_Comm_free(comm);
  }
  MPI_Finalize();
}

void MpiSession::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace evosearch
