// What runs rollouts in one process, seen without tensors: the job loop's in-process executor
// and a distributed worker rank both drive a Backend, and benchmarks substitute a simulated one.
// States are named by (prompt, StateRef) and stay inside the backend; only data-plane buffers,
// checkpoint bytes, scores and final pixels come out.
//
// Threads. A backend has two sides:
//   RolloutCompute - the model's work. Every call comes from ONE thread (the worker's compute
//     thread, or the job loop's thread in a one-process run); TorchBackend refuses a call from any
//     other thread with FailedPrecondition rather than racing.
//   ResidentStates - the states kept between rollouts. Thread-safe (the state store has its own
//     lock): a worker's communication thread frees states, exports and imports checkpoints and
//     moves states over the data plane while the compute thread runs a batch.
// The counters on Backend are atomics, read from any thread (heartbeats, reports).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <google/protobuf/repeated_field.h>

#include "common/image.h"
#include "common/state_buffer.h"
#include "common/status.h"
#include "evosearch/job.pb.h"
#include "evosearch/search.pb.h"

namespace evosearch {

class RolloutCompute {
 public:
  virtual ~RolloutCompute() = default;
  // Encodes a prompt's condition once; `key` keys its noise.
  virtual Status add_prompt(uint32_t prompt, const std::string& text, uint64_t key) = 0;
  // Runs every task (batched where step ranges match); results come back in task order.
  virtual StatusOr<std::vector<proto::PromptRolloutResult>> run(const std::vector<proto::PromptRolloutTask>& tasks) = 0;
  // The frames of a resident state (one for an image), and every reward of the bundle for it
  // (manifest order).
  virtual StatusOr<std::vector<Image>> decode(uint32_t prompt, const proto::StateRef& ref) = 0;
  virtual StatusOr<std::vector<double>> score(uint32_t prompt, const proto::StateRef& ref) = 0;
  // The frames of several resident final states of a prompt (a generation grid), in `refs` order.
  // A backend that kept the 8-bit pixels it decoded to score them hands those over (and forgets
  // them); this default decodes each state again.
  virtual StatusOr<std::vector<std::vector<Image>>> take_frames(uint32_t prompt, const std::vector<proto::StateRef>& refs) {
    std::vector<std::vector<Image>> out;
    for (const proto::StateRef& ref : refs) {
      ASSIGN_OR_RETURN(std::vector<Image> frames, decode(prompt, ref));
      out.push_back(std::move(frames));
    }
    return out;
  }
};

class ResidentStates {
 public:
  virtual ~ResidentStates() = default;
  // Frees every state of `prompt` that is not in `live` (all of them for release_prompt).
  virtual void release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) = 0;
  virtual void release_prompt(uint32_t prompt) = 0;
  // Checkpoints: resident states as bytes, and bytes made resident again.
  virtual StatusOr<std::vector<proto::StoredState>> export_states(uint32_t prompt,
                                                                  const std::vector<proto::StateRef>& refs) = 0;
  virtual Status import_states(uint32_t prompt,
                               const google::protobuf::RepeatedPtrField<proto::StoredState>& states) = 0;
  // Data plane: a resident state as a buffer to send, a buffer to receive one into, and storing a
  // received buffer. `device`: in accelerator memory (NCCL) rather than host memory (MPI).
  virtual StatusOr<StateBuffer> outgoing(uint32_t prompt, const proto::StateRef& ref, bool with_x0, bool device) = 0;
  virtual StatusOr<StateBuffer> incoming(bool with_x0, bool device) = 0;
  virtual Status store_incoming(uint32_t prompt, const proto::StateRef& ref, bool with_x0,
                                const StateBuffer& buffer) = 0;
};

class Backend : public RolloutCompute, public ResidentStates {
 public:
  virtual int64_t state_bytes() const = 0;  // one state, float32; constant
  virtual std::string device() const = 0;   // constant
  // Seconds inside model calls so far, and denoiser steps run so far (progress for heartbeats).
  virtual double model_seconds() const = 0;
  virtual int64_t steps_done() const = 0;
  // The model seconds by phase (encode, denoise, decode, score). A backend that does not tell its
  // model calls apart reports them all as denoising.
  virtual proto::PhaseSeconds model_phases() const {
    proto::PhaseSeconds p;
    p.set_denoise(model_seconds());
    return p;
  }
};

}  // namespace evosearch
