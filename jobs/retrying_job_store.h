// A job store that rides out a store briefly out of reach (Redis restarting, a network blip):
// every call that fails with Unavailable is retried with exponential backoff (0.1 s doubling up
// to 5 s) until `give_up_seconds` have passed since the outage began, with one warning per
// outage. Then the call returns Unavailable saying for how long the store has been out of reach;
// the job stops and exits with 75 so Slurm requeues it. Fenced writes are safe to repeat: a
// retry of a write that did land is accepted (same lease) or refused as a lost lease.
#pragma once

#include <memory>

#include "jobs/job_store.h"

namespace evosearch {

std::unique_ptr<JobStore> with_retries(std::unique_ptr<JobStore> store, double give_up_seconds);

}  // namespace evosearch
