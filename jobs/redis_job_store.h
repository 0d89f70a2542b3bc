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

// Every key of a job, named once: the members of RedisJobKeys, the key names
// ("evosearch:{NAME}:<name>") and the Lua locals every script binds from KEYS
// (redis_scripts.h) are all made from this list, so no code depends on its order.
#define EVOSEARCH_REDIS_JOB_KEYS(KEY) \
  KEY(job) KEY(prompts) KEY(queue) KEY(leases) KEY(checkpoints) KEY(outcomes) KEY(progress) KEY(events) KEY(outputs)

// The keys of job `job_name`, all in the hash slot of "{job_name}".
struct RedisJobKeys {
#define EVOSEARCH_REDIS_KEY_MEMBER(name) std::string name;
  EVOSEARCH_REDIS_JOB_KEYS(EVOSEARCH_REDIS_KEY_MEMBER)
#undef EVOSEARCH_REDIS_KEY_MEMBER

  // Every key, as the scripts receive them in KEYS (and bind them to their names).
  std::vector<std::string> all() const;
};

RedisJobKeys redis_job_keys(const std::string& job_name);

// Connects lazily (the first call says Unavailable if the server is down). InvalidArgument for
// a job name that is empty or holds '{' or '}' (it is the keys' hash tag). Lease expiry and record
// times come from the server's TIME; `clock` (empty: the system clock) stamps event-log lines.
// Defined only in builds with hiredis; open_job_store says so otherwise.
StatusOr<std::unique_ptr<JobStore>> make_redis_job_store(const RedisUrl& url, const std::string& job_name,
                                                         StoreClock clock = {});

}  // namespace evosearch
