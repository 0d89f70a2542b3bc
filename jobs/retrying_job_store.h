// A job store that rides out a store briefly out of reach (Redis restarting, a network blip):
// every call that fails with Unavailable is retried with exponential backoff (0.1 s doubling up
// to 5 s) until `give_up_seconds` have passed since the outage began, with one warning per
// outage. Then the call returns Unavailable saying for how long the store has been out of reach;
// the job stops and exits with 75 so Slurm requeues it. Every call that changes the store gets a
// request id of its own, the same on each of its retries, so a retry of a call that did run (its
// reply was lost) is answered as the first try was, without running again (JobStore, RequestId).
// `give_up_seconds` must stay below JobStore::kRequestMemorySeconds.
#pragma once

#include <memory>

#include "jobs/job_store.h"

namespace evosearch {

std::unique_ptr<JobStore> with_retries(std::unique_ptr<JobStore> store, double give_up_seconds);

}  // namespace evosearch
