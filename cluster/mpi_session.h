// MPI for this process: initialised by MpiSession::start, finalised when the session is
// destroyed. The session owns the private communicators of the two planes (duplicates of
// MPI_COMM_WORLD, so their messages never meet anyone else's) and hands them to the channels and
// data planes made from it. MPI types stay out of this header (cluster/mpi_comms.h unwraps them).
#pragma once

#include <memory>

#include "common/status.h"

namespace evosearch {

class MpiSession {
 public:
  // `multiple_threads`: more than one thread will call MPI (rank 0 when it also computes).
  static StatusOr<std::unique_ptr<MpiSession>> start(bool multiple_threads);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Kills every rank of the job (MPI_Abort).
  [[noreturn]] void abort(int code) const;

  struct Comms;  // the control and data communicators (cluster/mpi_comms.h)
  const Comms& comms() const { return *comms_; }

 private:
  MpiSession();
  int rank_ = 0;
  int size_ = 1;
  std::unique_ptr<Comms> comms_;
};

}  // namespace evosearch
