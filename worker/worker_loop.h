// A worker rank of a distributed job: the worker's end of the control-plane protocol
// (proto/cluster.proto), on a Backend. The coordinator's end is coordinator/distributed_executor.h.
//
// The protocol, as a worker runs it:
//   1. Send Hello (pid, host, device, bytes of one state).
//   2. Until Shutdown, on this (the communication) thread, repeatedly:
//      a. send on the reports the compute thread has finished (BatchDone, RenderReply, errors)
//         and those of the I/O thread (ShardWritten, errors);
//      b. send a Heartbeat every heartbeat_seconds, carrying the denoiser step count, so the
//         coordinator can tell a stuck computation from a slow one;
//      c. take one command. AddPrompt, Run and Sample need the model: they go to the compute
//         thread's queue and run in order. Exchange (state moves over the data plane, rounds in
//         the coordinator's order), Release and LoadShard (a committed shard read back, checksum
//         first) touch only resident states: they run here at once, so state moves and heartbeats
//         never wait for a batch. WriteShard copies the states' bytes here, in command order, and
//         queues them for the I/O thread (worker/shard_writer.h), which writes, fsyncs and hashes
//         the shard in the shared output folder: heartbeats never wait for a disk either.
//   3. On Shutdown: let the compute and shard queues drain, send their last reports, flush, return.
// An error in any command is reported to the coordinator with its code and what it belongs to (the
// batch or request, its prompts); the coordinator charges a prompt's own error to that prompt and
// stops the job for any other. The worker goes on serving either way.
//
// Threads: this thread uses the backend's ResidentStates side and its counters; the compute
// thread (worker/compute_thread.h) alone uses its RolloutCompute side; the I/O thread touches no
// backend at all, only the bytes handed to it and the output folder.
#pragma once

#include <functional>

#include "cluster/data_plane.h"
#include "cluster/mpi_channel.h"
#include "common/status.h"
#include "worker/backend.h"
#include "worker/shard_writer.h"

namespace evosearch {

struct WorkerLoopOptions {
  int coordinator = 0;  // the coordinator's world rank
  double heartbeat_seconds = 1.0;
  // Called when Shutdown arrives, before the compute queue drains: lets the backend abandon its
  // batch (the coordinator has given the generations in flight up).
  std::function<void()> on_shutdown;
  // How the I/O thread writes a checkpoint shard (nullptr: write_shard); tests make it slow.
  ShardWriteFn write_shard;
};

// Runs until the coordinator says shutdown.
Status serve_worker(MpiChannel& channel, DataPlane& plane, Backend& backend, const WorkerLoopOptions& options);

}  // namespace evosearch
