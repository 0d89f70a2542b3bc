// The communicators inside an MpiSession, for the cluster/ sources that talk MPI, and the one
// way MPI return codes become a Status.
#pragma once

#include <mpi.h>

#include <string>

#include "cluster/mpi_session.h"

namespace evosearch {

struct MpiSession::Comms {
  MPI_Comm control = MPI_COMM_NULL;  // protobuf control messages (MpiChannel)
  MPI_Comm data = MPI_COMM_NULL;     // state transfers (the MPI data plane) and plane set-up
};

// MPI's text for an error code.
std::string mpi_error_text(int code);

// OK, or Internal naming the MPI call that failed and MPI's reason.
inline Status mpi_status(int code, const std::string& call) {
  if (code == MPI_SUCCESS) return Status::Ok();
  return Internal(call + " failed: " + mpi_error_text(code));
}

}  // namespace evosearch
