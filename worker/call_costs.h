// What each kind of model call costs on this device, for budgets in seconds of model time
// (search.model_seconds_budget): a few timed calls of the denoiser (as the backend calls it,
// classifier-free guidance included), the decoder and the guidance reward at the job's batch size.
#pragma once

#include "common/status.h"
#include "worker/bundle.h"
#include "worker/schedule.h"

namespace evosearch {

struct CallCosts {
  double seconds_per_nfe = 0;     // one candidate's denoising step (both halves of a CFG pair)
  double seconds_per_decode = 0;  // one sample through the decoder
  double seconds_per_reward = 0;  // one sample through the guidance reward
  int batch = 0;                  // the batch size the calls were timed at
};

// Times one warm-up and `repetitions` calls of each kind at `batch` samples and keeps the fastest
// (per sample). A batch that fails (out of memory, most likely) is measured again at batch 1; an
// error there is returned, naming the call. Compute thread.
StatusOr<CallCosts> measure_call_costs(Bundle& bundle, const Schedule& schedule, double guidance_scale, int batch,
                                       int repetitions = 2);

}  // namespace evosearch
