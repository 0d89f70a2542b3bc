#include "coordinator/job_runner.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>

#include "cluster/signals.h"
#include "common/logging.h"
#include "coordinator/job_loop.h"
#include "coordinator/job_spec.h"
#include "coordinator/memory_estimate.h"
#include "jobs/job_identity.h"
#include "jobs/output_lock.h"
#include "jobs/prompt_suite.h"
#include "jobs/retrying_job_store.h"
#include "jobs/store_epoch.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

std::string host_name() {
  char host[256] = "unknown";
  ::gethostname(host, sizeof host - 1);
  return host;
}

// This run's name in the job store: host:pid:nonce.
std::string owner_id() {
  std::random_device random;
  char nonce[16];
  std::snprintf(nonce, sizeof nonce, "%08x", random());
  return host_name() + ":" + std::to_string(::getpid()) + ":" + nonce;
}

// Whether a lease owner ("host:pid:nonce") is a process of this host that is gone.
bool dead_here(const std::string& owner) {
  const size_t a = owner.find(':'), b = owner.rfind(':');
  if (a == std::string::npos || b == a || owner.substr(0, a) != host_name()) return false;
  const int pid = std::atoi(owner.substr(a + 1, b - a - 1).c_str());
  return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH;
}

// Prompts still leased by runs that cannot be running any more go back to the queue at once
// instead of waiting for their leases to expire: with the output folder locked, every other run
// of a file store is gone; with Redis, runs of this host whose process is gone.
Status take_back_stale_leases(JobStore& store, bool folder_locked) {
  ASSIGN_OR_RETURN(const std::vector<proto::PromptRecord> prompts, store.prompts());
  for (const proto::PromptRecord& p : prompts) {
    if (p.status() != proto::PROMPT_RUNNING || !(folder_locked || dead_here(p.owner()))) continue;
    proto::Lease stale;
    stale.set_prompt(p.prompt());
    stale.set_owner(p.owner());
    stale.set_token(p.token());
    const Status released = store.release(stale);
    if (!released.ok() && released.code() != StatusCode::kFailedPrecondition) return released;  // or it moved on meanwhile
  }
  return Status::Ok();
}

// --restart deletes files, so it refuses a folder that is not plainly a job's: the root, a
// home folder, or one holding files the job did not write (outside its state/ folder).
Status check_restart_is_safe(const std::string& output, const std::vector<std::string>& outputs) {
  std::error_code ec;
  const fs::path folder = fs::weakly_canonical(output, ec);
  const char* home = std::getenv("HOME");
  const bool home_folder = home && *home && fs::weakly_canonical(home, ec) == folder;
  const bool a_home = home_folder || folder.parent_path() == "/home";
  if (folder == folder.root_path() || a_home) {
    return FailedPrecondition("--restart: " + output + " is " + (a_home ? "a home folder" : "the root folder") +
                              "; a job's output folder must be a folder of its own");
  }
  if (!fs::exists(folder, ec)) return Status::Ok();  // nothing there yet: nothing to delete
  const std::set<std::string> ours(outputs.begin(), outputs.end());
  std::vector<std::string> foreign;
  for (auto it = fs::recursive_directory_iterator(folder, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path relative = it->path().lexically_relative(folder);
    if (relative.begin()->string() == "state") {
      it.disable_recursion_pending();  // the job store's folder: it removes only its own files there
      continue;
    }
    if (!it->is_directory() && !ours.count(relative.generic_string())) foreign.push_back(relative.generic_string());
  }
  if (ec) return Internal("--restart: cannot list " + output + ": " + ec.message());
  if (foreign.empty() || outputs.empty()) return Status::Ok();  // no job there yet: --restart deletes nothing
  std::sort(foreign.begin(), foreign.end());
  std::string names;
  for (size_t i = 0; i < foreign.size() && i < 5; ++i) names += (i ? ", " : "") + foreign[i];
  if (foreign.size() > 5) names += " and " + std::to_string(foreign.size() - 5) + " more";
  return FailedPrecondition("--restart: " + output + " holds files this job did not write (" + names +
                            "); move them away or use another output folder. Nothing was deleted.");
}

// The files the earlier job wrote, as far as the store knows (none when there is no job yet).
StatusOr<std::vector<std::string>> job_outputs(JobStore& store) {
  auto outputs = store.outputs();
  if (!outputs.ok() && outputs.status().code() == StatusCode::kNotFound) return std::vector<std::string>{};
  return outputs;
}

// --restart: the files the earlier job wrote (and nothing else), its checkpoint shards and its
// unpublished answer files.
Status remove_outputs(const std::string& output, const std::vector<std::string>& outputs) {
  std::error_code ec;
  for (const std::string& file : outputs) {
    fs::remove(fs::path(output) / file, ec);
    if (ec) return Internal("cannot remove " + (fs::path(output) / file).string() + ": " + ec.message());
  }
  for (const char* folder : {"shards", "pending"}) {
    fs::remove_all(fs::path(output) / "state" / folder, ec);
    if (ec) return Internal("cannot remove " + (fs::path(output) / "state" / folder).string() + ": " + ec.message());
  }
  return Status::Ok();
}

}  // namespace

StatusOr<proto::JobResults> run_job(const proto::JobSpec& spec, const proto::BundleManifest& manifest, int steps,
                                           Executor& executor, const RunOptions& options) {
  ASSIGN_OR_RETURN(const std::vector<PromptEntry> suite, read_prompt_suite(spec.prompts()));
  const std::string url = options.job_store.empty() ? spec.job_store() : options.job_store;
  const bool file_store = url.empty() || url == "file";
  // Outermost, the checks against the output folder (jobs/store_epoch.h): a store that lost the
  // job or went back in time stops the run, never retried.
  auto layered = [&](std::unique_ptr<JobStore> opened, const char* user) {
    return with_epoch_checks(
        with_retries(options.store_layer ? options.store_layer(std::move(opened), user) : std::move(opened),
                     options.store_timeout),
        spec.output());
  };
  ASSIGN_OR_RETURN(std::unique_ptr<JobStore> opened, open_job_store(url, spec.output(), spec.name()));
  const std::unique_ptr<JobStore> store = layered(std::move(opened), "loop");
  ASSIGN_OR_RETURN(std::unique_ptr<JobStore> keeper_store, open_job_store(url, spec.output(), spec.name()));
  LeaseKeeper keeper(layered(std::move(keeper_store), "keeper"), options.lease_seconds);

  JobLoopOptions loop_options;
  loop_options.owner = owner_id();
  loop_options.steps = steps;
  loop_options.lease_seconds = options.lease_seconds;
  loop_options.poll_seconds = std::min(1.0, options.lease_seconds / 4);
  JobLoop loop(spec, manifest, loop_options, executor, *store, keeper);
  RETURN_IF_ERROR(loop.add_prompts(suite));  // validates the search spec before any output
  RETURN_IF_ERROR(check_job_memory(spec, manifest, steps, options.pixel_shape, loop.in_flight_limit(), executor.workers()));
  ASSIGN_OR_RETURN(proto::JobRecord record, make_job_record(spec, static_cast<uint32_t>(suite.size())));
  proto::BatchSizeChoice batch = options.batch_size;
  if (batch.chosen() <= 0) {
    batch.set_chosen(spec.batch_size());
    batch.set_source("fixed");
  }
  // Kept with a new job so a resume runs at the same size (the store keeps the first record).
  if (batch.source() == "measured" || batch.source() == "cached profile" || batch.source() == "job record") {
    record.set_batch_size(batch.chosen());
  }
  std::vector<std::string> texts;
  for (const PromptEntry& e : suite) texts.push_back(e.text);

  std::vector<std::string> earlier_outputs;
  if (options.restart) {  // checked before anything is written
    ASSIGN_OR_RETURN(earlier_outputs, job_outputs(*store));
    RETURN_IF_ERROR(check_restart_is_safe(spec.output(), earlier_outputs));
  }
  std::unique_ptr<OutputLock> lock;
  if (file_store) {
    ASSIGN_OR_RETURN(lock, OutputLock::acquire(spec.output()));
  }
  if (options.restart) RETURN_IF_ERROR(remove_outputs(spec.output(), earlier_outputs));
  RETURN_IF_ERROR(store->open(record, texts, options.restart));
  RETURN_IF_ERROR(take_back_stale_leases(*store, file_store));
  if (options.on_accepted) options.on_accepted(batch);
  install_stop_signals();
  spdlog::info("job {} ({}): {} prompts, method {}, {} steps, batch {}, {} worker{}; this run is {}", spec.name(),
               store->describe(), suite.size(), spec.search().method(), steps, batch.chosen(), executor.workers(),
               executor.workers() == 1 ? "" : "s", loop_options.owner);
  if (spec.search().has_plan()) spdlog::info("{}", spec.search().plan().summary());
  auto outcomes = loop.run();
  if (!outcomes.ok()) {
    loop.release_leases();
    return outcomes.status();
  }
  // Every prompt's searcher has the same settings: any one describes the method.
  ASSIGN_OR_RETURN(const std::unique_ptr<Searcher> searcher,
                   make_searcher(spec.search(), steps, SearchKey{spec.seed(), 0}));
  proto::JobResults results = make_results(spec, searcher->describe(), *outcomes, loop.totals());
  ASSIGN_OR_RETURN(const std::vector<proto::PromptRecord> records, store->prompts());
  for (const proto::PromptRecord& p : records) {
    if (p.status() != proto::PROMPT_FAILED) continue;
    proto::FailedPrompt* f = results.add_failed();
    f->set_index(p.prompt());
    f->set_prompt(p.text());
    if (p.prompt() < suite.size()) f->set_category(suite[p.prompt()].category);
    f->set_error(p.last_error());
    f->set_attempts(p.attempts());
  }
  *results.mutable_totals()->mutable_batch_size() = batch;
  results.mutable_totals()->mutable_phases()->set_calibration(options.calibration_seconds);
  RETURN_IF_ERROR(write_job_outputs(results, spec.output(), *store));
  return results;
}

}  // namespace evosearch
