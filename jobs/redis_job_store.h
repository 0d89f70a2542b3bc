// The Redis job store (built with hiredis, EVOSEARCH_REDIS): what open_job_store returns for a
// redis:// URL. Key layout and value formats: the top of redis_job_store.cc.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "jobs/job_store.h"
#include "jobs/redis_url.h"

namespace evosearch {

// The keys of job `job_name`, all in the hash slot of "{job_name}": job, prompts, queue, leases,
// checkpoints, outcomes, progress, events, outputs (in that order).
std::vector<std::string> redis_job_keys(const std::string& job_name);

// Connects lazily (the first call says Unavailable if the server is down). InvalidArgument for
// a job name that is empty or holds '{' or '}' (it is the keys' hash tag). Defined only in builds
// with hiredis; open_job_store says so otherwise.
StatusOr<std::unique_ptr<JobStore>> make_redis_job_store(const RedisUrl& url, const std::string& job_name);

}  // namespace evosearch
