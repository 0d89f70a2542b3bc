// The communicators MpiSession::start makes, for the cluster/ sources that talk MPI.
#pragma once

#include <mpi.h>

namespace evosearch {

MPI_Comm control_comm();  // protobuf control messages
MPI_Comm data_comm();     // state transfers (MPI data plane)

}  // namespace evosearch
