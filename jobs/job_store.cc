#include "jobs/job_store.h"

#include <utility>

#include "jobs/redis_url.h"
#ifdef EVOSEARCH_WITH_REDIS
#include "jobs/redis_job_store.h"
#endif

namespace evosearch {

StatusOr<std::unique_ptr<JobStore>> open_job_store(const std::string& url, const std::string& output_dir,
                                                   const std::string& job_name, StoreClock clock) {
  if (url.empty() || url == "file") return make_file_job_store(output_dir, std::move(clock));
  ASSIGN_OR_RETURN(const RedisUrl redis, parse_redis_url(url));
#ifdef EVOSEARCH_WITH_REDIS
  return make_redis_job_store(redis, job_name, std::move(clock));
#else
  (void)job_name;
  (void)clock;
  return FailedPrecondition("the job store " + redis.describe() +
                            " needs Redis support, and this build has none: rebuild with libhiredis-dev installed "
                            "(cmake -DEVOSEARCH_REDIS=ON), or use the file store");
#endif
}

}  // namespace evosearch
