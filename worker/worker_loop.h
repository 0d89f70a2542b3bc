// A worker rank of a distributed job: answers the coordinator's commands on a Backend. Two
// threads: this one talks MPI (commands, state moves over the data plane, checkpoint exports,
// heartbeats), a second one computes (prompt encoding, rollout batches, final samples), so a
// worker serves state moves and heartbeats while it computes.
#pragma once

#include "cluster/data_plane.h"
#include "cluster/mpi_channel.h"
#include "common/status.h"
#include "worker/backend.h"

namespace evosearch {

struct WorkerLoopOptions {
  int coordinator = 0;
  double heartbeat_seconds = 1.0;
};

// Runs until the coordinator says shutdown. An error in a command is reported to the
// coordinator (which stops the job) and returned.
Status serve_worker(MpiChannel& channel, DataPlane& plane, Backend& backend, const WorkerLoopOptions& options);

}  // namespace evosearch
