// `evosearch status OUTPUT_OR_REDIS_URL`: a job's progress from its store alone, running or not.
#include <chrono>
#include <iostream>
#include <thread>

#include "cluster/signals.h"
#include "coordinator/cli/command_setup.h"
#include "coordinator/cli/job_store_choice.h"
#include "coordinator/job_status.h"
#include "jobs/job_store.h"

namespace evosearch {
namespace {

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

int run_status(const StatusOptions& given) {
  StatusOptions options = given;
  auto where = choose_job_store(given.where, given.job_store_file);
  if (!where.ok()) return fail(where.status());
  if (where->empty()) {
    return fail(InvalidArgument("which job? give its output folder or Redis URL, --job-store-file, or EVOSEARCH_JOB_STORE"));
  }
  options.where = *where;
  const bool redis = options.where.rfind("redis://", 0) == 0 || options.where.rfind("rediss://", 0) == 0;
  if (redis && options.job.empty()) {
    return fail(InvalidArgument("--job: a Redis store holds jobs by name; give the job's name (the spec's name)"));
  }
  auto store = open_job_store(redis ? options.where : "", redis ? "" : options.where, options.job);
  if (!store.ok()) return fail(store.status());
  install_stop_signals();
  for (;;) {
    auto view = read_job_status(**store, now_unix_ms());
    if (!view.ok()) {
      if (view.status().code() == StatusCode::kNotFound) {
        return fail(view.status().with_context(redis ? "no job '" + options.job + "' in " + (*store)->describe()
                                                     : options.where + " holds no job records (is it a job's output folder?)"));
      }
      return fail(view.status());
    }
    if (options.watch && !options.json) std::cout << "\033[H\033[2J";  // clear the terminal between refreshes
    std::cout << (options.json ? job_status_json(*view) : format_job_status(*view, (*store)->describe())) << std::flush;
    const bool over = view->queued + view->running == 0;
    if (!options.watch || over || stop_requested()) return 0;
    std::this_thread::sleep_for(std::chrono::duration<double>(options.interval));
  }
}

}  // namespace evosearch
