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

#include "common/status.h"

namespace evosearch {

// MPI for this process: initialised on construction, finalised on destruction.
class MpiSession {
 public:
  // `multiple_threads`: more than one thread will call MPI (rank 0 when it also computes).
  static StatusOr<std::unique_ptr<MpiSession>> start(bool multiple_threads);
  ~MpiSession();
  int rank() const { return rank_; }
  int size() const { return size_; }
  // Kills every rank of the job (MPI_Abort).
  [[noreturn]] void abort(int code) const;

 private:
  MpiSession() = default;
  int rank_ = 0;
  int size_ = 1;
};

struct Envelope {
  int source = -1;
  std::string bytes;
};

class MpiChannel {
 public:
  // Messages travel on the session's private duplicate of MPI_COMM_WORLD (ranks are world
  // ranks). Not collective: rank 0 may hold one per thread (with MPI_THREAD_MULTIPLE).
  MpiChannel();
  ~MpiChannel();
  MpiChannel(const MpiChannel&) = delete;
  MpiChannel& operator=(const MpiChannel&) = delete;

  Status send(int destination, int tag, const google::protobuf::Message& message);
  // A waiting message with `tag` from any rank, or nothing; never blocks.
  StatusOr<std::optional<Envelope>> try_receive(int tag);
  // Blocks until every queued send has completed.
  Status flush();

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
