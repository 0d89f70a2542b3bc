// Choosing the batch size from measurement: a few timed denoiser calls at candidate batch sizes
// (powers of two up to the spec's batch_size, and batch_size itself) before the job starts, on
// the job's device and bundle, and the size with the most NFE per second wins. Which size is
// fastest depends on the model and the device (on the CPU, 12 suited one demo bundle and 32 the
// other), so no fixed default suits every job.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/bundle.h"
#include "worker/schedule.h"

namespace evosearch {

// Raised whenever the way sizes are measured or chosen changes, so that batch-size profiles kept
// by an earlier version (coordinator/batch_profile.h) are measured again.
constexpr int kBatchCalibrationVersion = 1;

struct BatchRate {
  int batch = 0;
  double nfe_per_second = 0;  // candidates denoised per second: batch / the best call's seconds
};

struct BatchCalibration {
  int chosen = 0;
  std::vector<BatchRate> rates;  // every size measured, smallest first
  double seconds = 0;            // the calibration's own time, warm-up calls included
};

struct BatchCalibrationOptions {
  int max_batch = 32;        // the spec's batch_size: never exceeded
  int repetitions = 2;       // timed calls per size after one warm-up call; the fastest counts
  // Larger sizes are not tried once the estimated cost of timing the next one would take the
  // timed calls' total past the budget (the sizes measured so far still compete): budget_seconds,
  // or budget_calls calls at batch 1 for a model slower than that (a large model's job is long).
  double budget_seconds = 1.0;
  int budget_calls = 24;
  // Nor once a size's rate falls below this share of the best so far: past its best a model
  // only slows down with more candidates per call (not higher: timings on a busy machine jump).
  double give_up_below = 0.5;
  // Sizes within this share of the best rate count as equal, and the smallest of them wins: a
  // smaller batch is filled more often by the tasks in flight, and the timings are that noisy.
  double tolerance = 0.03;
};

// Runs one denoiser call at `batch` candidates and returns its seconds (the device synchronised).
// An error at a size (out of memory, most likely) ends the measurement there.
using BatchTimer = std::function<StatusOr<double>(int batch)>;

// 1, 2, 4, ... below max_batch, then max_batch itself.
std::vector<int> candidate_batch_sizes(int max_batch);

// Measures the candidates with `time_call`, smallest first, and picks the fastest per NFE
// (BatchCalibrationOptions says how ties, the budget and the early stop go). Deterministic given
// the timings: the budget counts the seconds `time_call` reports for timed calls, not the clock. An error at the
// smallest size is returned; at a larger one it ends the measurement (a batch that does not fit).
StatusOr<BatchCalibration> calibrate_batch_size(const BatchTimer& time_call, const BatchCalibrationOptions& options);

// The seconds of `call` until its output is computed: the output is read on the host, so the
// device's queued work counts.
StatusOr<double> seconds_until_computed(const std::function<StatusOr<at::Tensor>()>& call);

// A timer on `bundle`'s denoiser as the backend calls it: classifier-free guidance doubles the
// batch when `guidance_scale` is not 1, at the schedule's middle step, with the null prompt's
// condition. Compute thread.
BatchTimer denoiser_timer(Bundle& bundle, const Schedule& schedule, double guidance_scale);

}  // namespace evosearch
