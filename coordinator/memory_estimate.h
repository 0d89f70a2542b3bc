// What a job will hold in memory, estimated from its spec and bundle before anything is
// allocated, so a size the machine cannot hold is refused with the field to change instead of
// growing until the machine swaps or the kernel kills the run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "evosearch/bundle.pb.h"
#include "evosearch/job.pb.h"

namespace evosearch {

struct MemoryEstimate {
  double states = 0;      // latents the searchers keep (checkpoint states, x0 estimates)
  double batch = 0;       // one model batch's working set: latents, CFG copies, decoded pixels
  double bookkeeping = 0; // tasks, results and noise schedules of the candidates in flight
  double conditions = 0;  // the prompts' conditions (every worker holds each prompt's) and a batch's CFG pair of them
  int decode_batch = 1;   // samples decoded and scored at once (the batch's pixels term)
  double total() const { return states + batch + bookkeeping + conditions; }
  std::string describe() const;  // "states 1.2 GB + model batch 40 MB + bookkeeping 3 MB + conditions 64 MB"
};

// The job's peak memory on one worker process that holds `1/workers` of the states. `steps` is the
// sampler's step count; `pixel_shape` is the decoder's output per sample ([C,H,W] or [C,F,H,W]),
// or empty before the bundle has been opened (then the latent's size stands in for it).
// A model batch decodes and scores its samples in sub-batches (decode_batch) when the whole
// batch's decoded pixels would not fit the job's limit beside everything else: the most that fit,
// at least one.
StatusOr<MemoryEstimate> estimate_job_memory(const proto::JobSpec& spec, const proto::BundleManifest& manifest,
                                             int steps, const std::vector<int64_t>& pixel_shape,
                                             size_t prompts_in_flight, int workers = 1);

// Prompts searched at once: spec.prompts_in_flight, else 8, or 2 per worker when there are more.
size_t prompts_in_flight(const proto::JobSpec& spec, int workers);

// Refuses a job whose estimate exceeds its limit: spec.memory_limit_mb when set, else 90% of the
// memory available to this process. The message gives the estimate, its parts and the fields
// that size them.
Status check_job_memory(const proto::JobSpec& spec, const proto::BundleManifest& manifest, int steps,
                        const std::vector<int64_t>& pixel_shape, size_t prompts_in_flight, int workers = 1);

}  // namespace evosearch
