// `evosearch run SPEC` under mpirun/srun: rank 0 coordinates (and computes with
// --coordinator-computes), every other rank serves rollouts on its own device.
#include <algorithm>
#include <iostream>
#include <thread>

#include "cluster/launch.h"
#include "cluster/signals.h"
#include "coordinator/cli/command_setup.h"
#include "coordinator/cli/commands.h"
#include "coordinator/job_setup.h"
#include "coordinator/job_spec.h"
#include "worker/manifest.h"

#ifdef EVOSEARCH_WITH_MPI
#include "cluster/data_plane.h"
#include "cluster/mpi_channel.h"
#include "coordinator/distributed_executor.h"
#include "worker/worker_loop.h"
#endif

namespace evosearch {

#ifndef EVOSEARCH_WITH_MPI

int run_distributed_job(const CommonOptions&, const RunCommandOptions&) {
  return fail(FailedPrecondition("this process was launched as one of " + std::to_string(detect_launch().world_size) +
                                 " ranks, but this build has no MPI (install libopenmpi-dev and rebuild)"));
}

#else

namespace {

// Logs why the job failed and what survives, then takes every rank down with it (exit 1, or 75).
[[noreturn]] void abort_job(const MpiSession& session, const Status& status, const proto::JobSpec& spec) {
  spdlog::error("{}", status.message());
  // The message says how to continue: a store that lost data (jobs/store_epoch.h), or a job refused
  // before it started (nothing to resume).
  if (status.code() == StatusCode::kDataLoss || status.code() == StatusCode::kFailedPrecondition) {
    spdlog::error("stopping every rank");
  } else {
    spdlog::error("stopping every rank. Each prompt is checkpointed at its last finished generation under {}/state; "
                  "run the same command again to resume", spec.output());
  }
  spdlog::default_logger()->flush();
  // 75 as in process for what running again resumes (a reward service not up yet at the start).
  session.abort(status.code() == StatusCode::kUnavailable ? 75 : 1);
}

}  // namespace

int run_distributed_job(const CommonOptions& common, const RunCommandOptions& options) {
  auto spec = load_job_spec(options.spec);
  if (!spec.ok()) return fail(spec.status());
  const LaunchInfo launch = detect_launch();
  auto started = MpiSession::start(options.coordinator_computes);
  if (!started.ok()) return fail(started.status());
  const std::unique_ptr<MpiSession> session = std::move(*started);
  const int rank = session->rank();
  std::vector<int> workers;
  for (int r = options.coordinator_computes ? 0 : 1; r < session->size(); ++r) workers.push_back(r);
  const bool computes = rank != 0 || options.coordinator_computes;
  // A budget in seconds: every rank plans the search a one-process run planned when it created
  // the job, from the costs its record keeps (no rank measures: the workers may differ).
  if (spec->search().model_seconds_budget() > 0) {
    auto manifest = load_manifest(spec->bundle());
    const Status planned = manifest.ok() ? plan_seconds_budget(*spec, *manifest, nullptr, run_options(options),
                                                               spec->batch_size())
                                         : manifest.status();
    if (!planned.ok()) abort_job(*session, planned, *spec);
  }

  CommonOptions effective = common;
  if (effective.device.empty()) effective.device = spec->device();
  resolve_model_dtype(effective, *spec);
  std::unique_ptr<Bundle> bundle;
  std::unique_ptr<TorchBackend> backend;
  // Set when the coordinator says shutdown: the batch in flight is abandoned.
  std::atomic<bool> shutting_down{false};
  if (computes) {
    auto opened = open_bundle_for_command(effective, spec->bundle(), spec->name(), rank, launch.local_rank);
    if (!opened.ok()) abort_job(*session, opened.status().with_context("rank " + std::to_string(rank)), *spec);
    bundle = std::move(*opened);
    auto made = make_torch_backend(*spec, *bundle, [&] { return shutting_down.load(); }, static_cast<int>(workers.size()));
    if (!made.ok()) abort_job(*session, made.status(), *spec);
    backend = std::move(*made);
  } else if (const Status s = setup_logging(common.log_level, LogContext{rank, spec->name()}); !s.ok()) {
    return fail(s);
  }
  std::string why;
  DataPlaneOptions plane_options;
  // Twice the worker timeout: a silent rank is the coordinator's heartbeat check to name ("rank N
  // ... has not answered"); the data plane's watchdog stays the backstop for a transfer stuck
  // between live ranks. With equal timeouts a peer waiting on a stopped rank raced the check.
  plane_options.timeout_seconds = 2 * options.worker_timeout;
  auto plane = open_data_plane(*session, options.data_plane, computes ? backend->device() : "", why, plane_options);
  if (!plane.ok()) abort_job(*session, plane.status(), *spec);
  // Workers ignore the stop signals (cluster/signals.h: noted, not acted on): the coordinator gets them too, abandons
  // the generations in flight (each prompt is checkpointed at its last finished one) and tells
  // the workers to stop, which abandon their batches.
  install_stop_signals();
  WorkerLoopOptions loop;
  loop.on_shutdown = [&] { shutting_down = true; };
  loop.heartbeat_seconds = std::min(1.0, options.worker_timeout / 4);

  if (rank != 0) {
    MpiChannel channel(*session);
    const Status s = serve_worker(channel, **plane, *backend, loop);
    if (!s.ok()) return fail(s);
    return 0;
  }

  spdlog::info("{} ranks via {}: rank 0 coordinates{}, {} worker rank{}; data plane {}", session->size(), launch.launcher,
               options.coordinator_computes ? " and computes" : "", workers.size(), workers.size() == 1 ? "" : "s", why);
  if (workers.empty()) {
    abort_job(*session, InvalidArgument("no worker ranks: launch at least 2 ranks, or pass --coordinator-computes"), *spec);
  }
  auto manifest = computes ? StatusOr<proto::BundleManifest>(bundle->manifest()) : load_manifest(spec->bundle());
  if (!manifest.ok()) abort_job(*session, manifest.status(), *spec);
  auto sampler = sampler_config(*spec, *manifest);
  if (!sampler.ok()) abort_job(*session, sampler.status(), *spec);

  Status local_status;
  std::thread local_worker;
  if (options.coordinator_computes) {
    local_worker = std::thread([&] {
      MpiChannel channel(*session);
      local_status = serve_worker(channel, **plane, *backend, loop);
    });
  }
  MpiChannel channel(*session);
  DistributedOptions distributed;
  distributed.workers = workers;
  distributed.batch_size = spec->batch_size();
  distributed.worker_timeout = options.worker_timeout;
  DistributedExecutor executor(channel, distributed);
  if (const Status s = executor.connect(); !s.ok()) abort_job(*session, s, *spec);
  RunOptions run = run_options(options);
  // Workers may differ (devices, hosts), and each builds its backend from the spec: distributed
  // runs use batch_size as given, whatever batch_size_policy says.
  run.batch_size.set_chosen(spec->batch_size());
  run.batch_size.set_source(spec->batch_size_policy() == "fixed" ? "fixed" : "distributed");
  auto results = run_job(*spec, *manifest, sampler->steps, executor, run);
  if (!results.ok() && results.status().code() != StatusCode::kUnavailable) abort_job(*session, results.status(), *spec);
  if (const Status s = executor.shutdown(); !s.ok()) abort_job(*session, s, *spec);
  if (local_worker.joinable()) local_worker.join();
  if (!local_status.ok()) return fail(local_status);
  if (!results.ok()) {
    fail(results.status());
    return 75;  // stopped (a signal, the job store out of reach) with everything checkpointed; running again resumes
  }
  std::cout << summary_table(*results);
  const TrafficStats t = executor.traffic();
  spdlog::info("state moves: {} ({:.1f} MB); checkpoint shards written by workers: {:.1f} MB; control messages into "
               "rank 0: {:.2f} MB; kept states: {}", t.state_moves, t.state_move_bytes / 1e6, t.shard_bytes / 1e6,
               t.coordinator_bytes_in / 1e6, t.kept_states);
  spdlog::info("wrote {}/results.json and {} images", spec->output(), results->prompts_size());
  return results->failed_size() > 0 ? kExitSomePromptsFailed : 0;
}

#endif

}  // namespace evosearch
