// The control plane: protobuf messages between ranks over MPI. Sends are non-blocking (queued
// and progressed on every call), so two ranks sending each other large messages at once cannot
// deadlock; receives poll, so a caller can watch the clock (hung ranks) and signals meanwhile.
// MPI types stay out of this header.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <google/protobuf/message.h>

#include "cluster/mpi_session.h"
#include "common/status.h"

namespace evosearch {

struct Envelope {
  int source = -1;
  std::string bytes;
};

// One thread's end of the control plane. Not collective: rank 0 holds one per thread when it
// also computes (MPI_THREAD_MULTIPLE). Used by one thread only.
class MpiChannel {
 public:
  // Messages travel on the session's control communicator (ranks are world ranks). The
  // destructor waits at most `drain_seconds` for queued sends to complete.
  explicit MpiChannel(const MpiSession& session, double drain_seconds = 10);
  // Never blocks longer than drain_seconds, even when a peer is dead: sends still queued then
  // are cancelled and their buffers deliberately leaked (MPI may still read them).
  ~MpiChannel();
  MpiChannel(const MpiChannel&) = delete;
  MpiChannel& operator=(const MpiChannel&) = delete;

  Status send(int destination, int tag, const google::protobuf::Message& message);
  // A waiting message with `tag` from any rank, or nothing; never blocks.
  StatusOr<std::optional<Envelope>> try_receive(int tag);
  // Waits until every queued send has completed; DeadlineExceeded naming the ranks that have not
  // taken their messages after `timeout_seconds`.
  Status flush(double timeout_seconds);
  size_t queued() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Message tags.
constexpr int kCommandTag = 11;  // coordinator -> worker: WorkerCommand
constexpr int kReportTag = 12;   // worker -> coordinator: WorkerReport

// Sleeps a little longer each time nothing happened (up to 1 ms), so idle ranks poll without
// eating the CPU that oversubscribed ranks share; reset() after something happened.
class Backoff {
 public:
  void idle();
  void reset() { spins_ = 0; }

 private:
  int spins_ = 0;
};

}  // namespace evosearch
