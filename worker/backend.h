// What runs rollouts in one process, seen without tensors: the coordinator's in-process
// executor and the distributed worker loop both drive a Backend, and benchmarks substitute a
// simulated one. States are named by (prompt, StateRef) and stay inside the backend; only
// data-plane buffers, checkpoint bytes, scores and final pixels come out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/image.h"
#include "common/status.h"
#include "evosearch/job.pb.h"
#include "evosearch/search.pb.h"

namespace evosearch {

struct PromptTask {
  uint32_t prompt = 0;
  proto::RolloutTask task;
};

struct PromptResult {
  uint32_t prompt = 0;
  proto::RolloutResult result;
};

// A contiguous buffer holding one state (and its x0 estimate after it, when it has one), in
// host or device memory; `owner` keeps the memory alive.
struct StateBuffer {
  void* data = nullptr;
  size_t bytes = 0;
  std::shared_ptr<void> owner;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Encodes a prompt's condition once; `key` keys its noise.
  virtual Status add_prompt(uint32_t prompt, const std::string& text, uint64_t key) = 0;
  // Runs every task (batched where step ranges match); results come back in task order.
  virtual StatusOr<std::vector<PromptResult>> run(const std::vector<PromptTask>& tasks) = 0;
  virtual void release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) = 0;
  virtual void release_prompt(uint32_t prompt) = 0;
  virtual StatusOr<std::vector<proto::StoredState>> export_states(uint32_t prompt,
                                                                  const std::vector<proto::StateRef>& refs) = 0;
  virtual Status import_states(uint32_t prompt, const google::protobuf::RepeatedPtrField<proto::StoredState>& states) = 0;
  // The pixels of a resident state, and every reward of the bundle for it (manifest order).
  virtual StatusOr<Image> decode(uint32_t prompt, const proto::StateRef& ref) = 0;
  virtual StatusOr<std::vector<double>> score(uint32_t prompt, const proto::StateRef& ref) = 0;

  // Data plane: a resident state as a buffer to send, a buffer to receive one into, and
  // storing a received buffer. `device`: in accelerator memory (NCCL) rather than host (MPI).
  virtual StatusOr<StateBuffer> outgoing(uint32_t prompt, const proto::StateRef& ref, bool with_x0, bool device) = 0;
  virtual StateBuffer incoming(bool with_x0, bool device) = 0;
  virtual Status store_incoming(uint32_t prompt, const proto::StateRef& ref, bool with_x0, const StateBuffer& buffer) = 0;

  virtual int64_t state_bytes() const = 0;  // one state, float32
  virtual std::string device() const = 0;
  // Seconds inside model calls so far, and denoiser steps run so far (progress for heartbeats).
  virtual double model_seconds() const = 0;
  virtual int64_t steps_done() const = 0;
};

}  // namespace evosearch
