#include "coordinator/job_runner.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <optional>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>

#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include "cluster/signals.h"
#include "common/logging.h"
#include "coordinator/job_spec.h"
#include "jobs/atomic_file.h"
#include "jobs/checksum.h"
#include "jobs/image_io.h"
#include "jobs/job_identity.h"
#include "jobs/job_store.h"
#include "jobs/output_names.h"
#include "jobs/prompt_suite.h"
#include "jobs/sample_files.h"
#include "coordinator/executor.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct PromptJob {
  uint32_t index = 0;
  PromptEntry entry;
  uint64_t key = 0;
  std::unique_ptr<Searcher> searcher;
  std::vector<proto::RolloutTask> in_flight;
  std::vector<proto::RolloutResult> collected;     // results of the generation in flight so far
  std::optional<proto::StateShard> resume;  // states to make resident when it starts
  proto::Lease lease;
  std::string shard;  // the shard file of its latest checkpoint, relative to the output folder
  bool finished = false;
  proto::PromptOutcome outcome;
};

// Noise key of a prompt: its text, plus which occurrence it is when a suite repeats it.
std::vector<uint64_t> prompt_keys(const std::vector<PromptEntry>& suite) {
  std::map<std::string, int> seen;
  std::vector<uint64_t> keys;
  for (const PromptEntry& e : suite) {
    const int n = seen[e.text]++;
    keys.push_back(prompt_key(n == 0 ? e.text : e.text + "\x1f#" + std::to_string(n)));
  }
  return keys;
}

// This run's name in the job store: hostname:pid:random.
std::string owner_id() {
  char host[256] = "unknown";
  ::gethostname(host, sizeof host - 1);
  std::random_device random;
  char nonce[16];
  std::snprintf(nonce, sizeof nonce, "%08x", random());
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" + nonce;
}

// A checkpoint's states go in one shard file (the store keeps only its path and checksum).
StatusOr<proto::ShardRef> write_shard(const std::string& output, uint32_t prompt, uint32_t generation,
                                      std::vector<proto::StoredState> states) {
  char name[64];
  std::snprintf(name, sizeof name, "state/shards/prompt-%05u-g%03u.shard", prompt, generation);
  proto::StateShard shard;
  shard.set_prompt(prompt);
  proto::ShardRef ref;
  ref.set_path(name);
  for (auto& state : states) {
    *ref.add_states() = state.ref();
    *shard.add_states() = std::move(state);
  }
  const std::string bytes = shard.SerializeAsString();
  RETURN_IF_ERROR(write_file_atomic((fs::path(output) / name).string(), bytes));
  ref.set_sha256(sha256_hex(bytes));
  ref.set_bytes(static_cast<int64_t>(bytes.size()));
  return ref;
}

// The states of a checkpoint, read back from its shards; DataLoss names a shard that does not
// match its checksum or does not parse.
StatusOr<proto::StateShard> read_shards(const std::string& output, const proto::CheckpointRecord& checkpoint) {
  proto::StateShard all;
  all.set_prompt(checkpoint.prompt());
  for (const proto::ShardRef& ref : checkpoint.shards()) {
    const std::string file = (fs::path(output) / ref.path()).string();
    ASSIGN_OR_RETURN(const std::string bytes, read_file(file));
    proto::StateShard shard;
    if (sha256_hex(bytes) != ref.sha256() || !shard.ParseFromString(bytes)) {
      return DataLoss(file + ": checkpoint shard does not match its checksum; delete the output folder's state "
                             "(or run with --restart) to redo prompt " + std::to_string(checkpoint.prompt()));
    }
    for (auto& state : *shard.mutable_states()) *all.add_states() = std::move(state);
  }
  return all;
}

std::string to_json(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

std::string format_seconds(double s) {
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%.1fs", s);
  return buf;
}

proto::MetricStats stats_of(const std::vector<double>& v) {
  proto::MetricStats s;
  if (v.empty()) return s;
  double sum = 0, sq = 0;
  double lo = v[0], hi = v[0];
  for (double x : v) {
    sum += x;
    sq += x * x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  const double mean = sum / v.size();
  s.set_mean(mean);
  s.set_std(std::sqrt(std::max(0.0, sq / v.size() - mean * mean)));
  s.set_min(lo);
  s.set_max(hi);
  return s;
}

class JobRun {
 public:
  JobRun(const proto::JobSpec& spec, const proto::BundleManifest& manifest, int steps, Executor& executor, JobStore& store)
      : spec_(spec), manifest_(manifest), steps_(steps), executor_(executor), store_(store) {}

  Status add_prompts(const std::vector<PromptEntry>& suite, int steps) {
    const std::vector<uint64_t> keys = prompt_keys(suite);
    for (uint32_t i = 0; i < suite.size(); ++i) {
      PromptJob job;
      job.index = i;
      job.entry = suite[i];
      job.key = keys[i];
      ASSIGN_OR_RETURN(job.searcher, make_searcher(spec_.search(), steps, SearchKey{spec_.seed(), keys[i]}));
      jobs_.push_back(std::move(job));
    }
    return Status::Ok();
  }

  // Picks up earlier progress: finished prompts keep their outcome, the claimed ones continue
  // from their last checkpointed generation.
  Status resume(const std::vector<proto::Lease>& leases) {
    std::vector<bool> claimed(jobs_.size());
    for (const proto::Lease& lease : leases) {
      jobs_[lease.prompt()].lease = lease;
      claimed[lease.prompt()] = true;
    }
    size_t finished = 0, resumed = 0;
    for (PromptJob& job : jobs_) {
      ASSIGN_OR_RETURN(std::optional<proto::PromptOutcome> outcome, store_.load_outcome(job.index));
      if (outcome) {
        // Still claimed when a run died between storing the outcome and marking the prompt done.
        if (claimed[job.index]) RETURN_IF_ERROR(store_.save_outcome(job.lease, *outcome));
        job.outcome = std::move(*outcome);
        job.finished = true;
        ++finished;
        continue;
      }
      if (!claimed[job.index]) {
        return FailedPrecondition("prompt " + std::to_string(job.index) + " of " + store_.describe() +
                                  " is neither done nor claimable (failed, or held by another coordinator)");
      }
      ASSIGN_OR_RETURN(const std::optional<proto::CheckpointRecord> checkpoint, store_.load_checkpoint(job.index));
      if (checkpoint) {
        RETURN_IF_ERROR(job.searcher->restore(checkpoint->snapshot()));
        ASSIGN_OR_RETURN(job.resume, read_shards(spec_.output(), *checkpoint));
        if (!checkpoint->shards().empty()) job.shard = checkpoint->shards(0).path();
        ++resumed;
      }
    }
    if (finished + resumed > 0) {
      spdlog::info("resuming: {} prompts already finished, {} continue from their last generation", finished, resumed);
      RETURN_IF_ERROR(store_.log_event("resume finished=" + std::to_string(finished) + " continued=" + std::to_string(resumed)));
    }
    return Status::Ok();
  }

  // Keeps up to prompts_in_flight prompts searching; each prompt's next generation is submitted
  // as soon as its previous one has every result, so generations of different prompts overlap.
  StatusOr<proto::JobResults> run() {
    const auto start = Clock::now();
    std::deque<PromptJob*> waiting;
    for (PromptJob& j : jobs_) {
      if (!j.finished) waiting.push_back(&j);
    }
    std::vector<PromptJob*> active;
    int stop_signal = 0;
    auto last_progress = Clock::now() - std::chrono::seconds(10);
    while (!active.empty() || (!waiting.empty() && !stop_signal)) {
      while (!stop_signal && !waiting.empty() && active.size() < in_flight_limit()) {
        PromptJob* j = waiting.front();
        waiting.pop_front();
        RETURN_IF_ERROR(executor_.add_prompt(j->index, j->entry.text, j->key));
        if (j->resume) RETURN_IF_ERROR(executor_.import_states(j->index, j->resume->states()));
        j->resume.reset();
        active.push_back(j);
        RETURN_IF_ERROR(start_generation(*j));
      }
      const auto wait_start = Clock::now();
      ASSIGN_OR_RETURN(const std::vector<proto::PromptResult> results, executor_.wait());
      wait_seconds_ += std::chrono::duration<double>(Clock::now() - wait_start).count();
      if (results.empty()) return Internal("the executor returned no results while generations were in flight");
      for (const proto::PromptResult& r : results) {
        PromptJob* j = by_index(r.prompt());
        if (!j) return Internal("a result for prompt " + std::to_string(r.prompt()) + ", which is not searching");
        j->collected.push_back(r.result());
      }
      bool finished_one = false;
      for (PromptJob* j : active) {
        if (j->in_flight.empty() || j->collected.size() < j->in_flight.size()) continue;
        RETURN_IF_ERROR(complete_generation(*j));
        finished_one = finished_one || j->finished;
        if (!j->finished && !stop_signal) RETURN_IF_ERROR(start_generation(*j));
      }
      active.erase(std::remove_if(active.begin(), active.end(), [](PromptJob* j) { return j->finished || j->in_flight.empty(); }),
                   active.end());
      if (finished_one || Clock::now() - last_progress > std::chrono::seconds(1)) {
        log_progress(active, start);
        last_progress = Clock::now();
      }
      if (!stop_signal && (stop_signal = stop_requested())) {
        spdlog::warn("signal {}: finishing the generations in flight, then stopping", stop_signal);
      }
    }
    if (stop_signal) {
      for (const PromptJob& j : jobs_) {
        if (!j.finished) RETURN_IF_ERROR(store_.release(j.lease));  // queued again, checkpoint kept
      }
      RETURN_IF_ERROR(store_.log_event("stopped by signal " + std::to_string(stop_signal)));
      return Status(StatusCode::kUnavailable, "stopped by signal " + std::to_string(stop_signal) +
                                                  " at a generation boundary, with every prompt checkpointed; "
                                                  "run the same command again to resume");
    }
    return results(std::chrono::duration<double>(Clock::now() - start).count());
  }

 private:
  std::string stem(const PromptJob& j) const { return safe_file_stem(j.entry.text, j.index); }

  size_t in_flight_limit() const {
    if (spec_.prompts_in_flight() > 0) return static_cast<size_t>(spec_.prompts_in_flight());
    return static_cast<size_t>(std::max(8, 2 * executor_.workers()));
  }

  PromptJob* by_index(uint32_t index) { return index < jobs_.size() ? &jobs_[index] : nullptr; }

  Status start_generation(PromptJob& j) {
    j.in_flight = j.searcher->next_generation();
    j.collected.clear();
    std::vector<proto::PromptTask> tasks;
    for (const auto& t : j.in_flight) {
      proto::PromptTask& task = tasks.emplace_back();
      task.set_prompt(j.index);
      *task.mutable_task() = t;
    }
    return executor_.submit(tasks);
  }

  Status complete_generation(PromptJob& j) {
    const uint32_t generation = j.searcher->generation();
    ++generations_;
    RETURN_IF_ERROR(j.searcher->on_results(j.collected));
    if (spec_.generation_grids()) RETURN_IF_ERROR(write_generation_grid(j, generation));
    RETURN_IF_ERROR(executor_.release_all_but(j.index, j.searcher->live_states()));
    const Status s = j.searcher->done() ? finish(j) : checkpoint(j);
    j.in_flight.clear();
    j.collected.clear();
    return s;
  }

  // Every candidate of the generation: images 8 to a row; a video's candidates one frame strip
  // per row, in candidate order.
  Status write_generation_grid(const PromptJob& j, uint32_t generation) {
    std::vector<Image> images;
    bool video = false;
    for (const proto::RolloutTask& t : j.in_flight) {
      if (t.end_step() != steps_) return Status::Ok();  // not a final sample (particles)
      ASSIGN_OR_RETURN(const std::vector<Image> frames,
                       executor_.decode(j.index, state_ref(t.generation(), t.candidate(), t.end_step())));
      video = video || frames.size() > 1;
      images.push_back(frame_strip(frames));
    }
    const int scale = std::max(1, 84 / std::max(1, images.empty() ? 1 : images[0].height));
    const std::string file = "grids/" + stem(j) + "-gen" + std::to_string(generation) + ".png";
    RETURN_IF_ERROR(store_.add_outputs({file}));
    return write_png((fs::path(spec_.output()) / file).string(), make_grid(images, video ? 1 : 8, 2, scale));
  }

  Status checkpoint(PromptJob& j) {
    proto::CheckpointRecord c;
    c.set_prompt(j.index);
    c.set_generation(j.searcher->generation());
    c.set_generation_count(j.searcher->generation_count());
    *c.mutable_snapshot() = j.searcher->snapshot();
    ASSIGN_OR_RETURN(std::vector<proto::StoredState> states, executor_.export_states(j.index, j.searcher->live_states()));
    ASSIGN_OR_RETURN(*c.add_shards(), write_shard(spec_.output(), j.index, c.generation(), std::move(states)));
    RETURN_IF_ERROR(store_.commit_checkpoint(j.lease, c));
    remove_shard(j);
    j.shard = c.shards(0).path();
    return Status::Ok();
  }

  // The previous checkpoint's shard, once a newer checkpoint or the outcome is committed.
  void remove_shard(const PromptJob& j) const {
    std::error_code ec;
    if (!j.shard.empty()) fs::remove(fs::path(spec_.output()) / j.shard, ec);
  }

  Status finish(PromptJob& j) {
    const proto::BestSample& best = j.searcher->best();
    ASSIGN_OR_RETURN(const std::vector<double> scores, executor_.score(j.index, best.state()));
    ASSIGN_OR_RETURN(const std::vector<Image> frames, executor_.decode(j.index, best.state()));
    RETURN_IF_ERROR(store_.add_outputs(sample_file_names(stem(j))));  // before writing: --restart must find them
    ASSIGN_OR_RETURN(const SampleFiles files, write_sample_files(frames, spec_.output(), stem(j)));
    proto::PromptOutcome& o = j.outcome;
    o.set_index(j.index);
    o.set_prompt(j.entry.text);
    o.set_category(j.entry.category);
    const proto::Accounting& a = j.searcher->accounting();
    o.set_nfe(static_cast<int32_t>(a.nfe()));
    o.set_reward_calls(static_cast<int32_t>(a.reward_calls()));
    o.set_decode_calls(static_cast<int32_t>(a.decode_calls()));
    if (static_cast<int>(scores.size()) != manifest_.rewards_size()) return Internal("scoring the answer gave the wrong number of rewards");
    for (int r = 0; r < manifest_.rewards_size(); ++r) (*o.mutable_scores())[manifest_.rewards(r).name()] = scores[r];
    o.set_image(files.image);
    o.set_video(files.video);
    o.set_preview(files.preview);
    o.set_generation(best.state().generation());
    o.set_candidate(best.state().candidate());
    RETURN_IF_ERROR(store_.save_outcome(j.lease, o));
    remove_shard(j);
    RETURN_IF_ERROR(executor_.release_prompt(j.index));
    j.finished = true;
    return store_.log_event("finished prompt " + std::to_string(j.index));
  }

  void log_progress(const std::vector<PromptJob*>& active, Clock::time_point start) const {
    double done = 0;
    size_t finished = 0;
    for (const PromptJob& j : jobs_) {
      done += j.finished ? 1.0 : double(j.searcher->generation()) / j.searcher->generation_count();
      finished += j.finished;
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const double fraction = done / jobs_.size();
    std::string line = "[" + std::to_string(finished) + "/" + std::to_string(jobs_.size()) + " prompts done, " +
                       std::to_string(int(100 * fraction)) + "%, " + format_seconds(elapsed) + " elapsed, ETA " +
                       format_seconds(fraction > 0 ? elapsed * (1 - fraction) / fraction : 0) + "]";
    for (const PromptJob* j : active) {
      char best[32];
      std::snprintf(best, sizeof best, "%.3f", j->searcher->best().fitness());
      line += " '" + j->entry.text + "' gen " + std::to_string(j->searcher->generation()) + "/" +
              std::to_string(j->searcher->generation_count()) + " best " + best + ";";
    }
    spdlog::info("{}", line);
  }

  proto::JobResults results(double wall_seconds) const {
    proto::JobResults r;
    r.set_name(spec_.name());
    r.set_method(spec_.search().method());
    r.set_bundle(spec_.bundle());
    proto::Totals* totals = r.mutable_totals();
    std::map<std::string, std::vector<double>> per_metric;
    for (const PromptJob& j : jobs_) {
      totals->set_nfe(totals->nfe() + j.outcome.nfe());
      totals->set_reward_calls(totals->reward_calls() + j.outcome.reward_calls());
      totals->set_decode_calls(totals->decode_calls() + j.outcome.decode_calls());
      *r.add_prompts() = j.outcome;
      for (const auto& [name, value] : j.outcome.scores()) per_metric[name].push_back(value);
    }
    totals->set_wall_seconds(wall_seconds);
    totals->set_model_seconds(executor_.model_seconds());
    totals->set_workers(executor_.workers());
    totals->set_coordinator_seconds(wall_seconds - wait_seconds_);
    totals->set_generations(generations_);
    const TrafficStats t = executor_.traffic();
    totals->set_state_moves(t.state_moves);
    totals->set_state_move_bytes(t.state_move_bytes);
    totals->set_checkpoint_bytes(t.checkpoint_bytes);
    for (const auto& [name, values] : per_metric) (*r.mutable_metrics())[name] = stats_of(values);
    return r;
  }

 private:
  const proto::JobSpec& spec_;
  const proto::BundleManifest& manifest_;
  const int steps_;  // the sampler's T
  double wait_seconds_ = 0;  // inside executor_.wait()
  int generations_ = 0;
  Executor& executor_;
  JobStore& store_;
  std::vector<PromptJob> jobs_;
};

// One run claims every prompt for as long as it may take; it commits while nobody else claimed.
constexpr double kRunLeaseSeconds = 30 * 24 * 3600;

// Until several coordinators share a job, a run is the only coordinator of its output folder,
// so a prompt still leased was left by an earlier run that was killed: give it back to the queue.
Status take_back_stale_leases(JobStore& store) {
  ASSIGN_OR_RETURN(const std::vector<proto::PromptRecord> prompts, store.prompts());
  for (const proto::PromptRecord& p : prompts) {
    if (p.state() != proto::PROMPT_RUNNING) continue;
    proto::Lease stale;
    stale.set_prompt(p.prompt());
    stale.set_owner(p.owner());
    stale.set_token(p.token());
    RETURN_IF_ERROR(store.release(stale));
  }
  return Status::Ok();
}

// --restart: the files the earlier job wrote, and its checkpoint shards.
Status remove_outputs(const std::string& output, JobStore& store) {
  ASSIGN_OR_RETURN(const std::vector<std::string> outputs, store.outputs());
  std::error_code ec;
  for (const std::string& file : outputs) {
    fs::remove(fs::path(output) / file, ec);
    if (ec) return Internal("cannot remove " + (fs::path(output) / file).string() + ": " + ec.message());
  }
  fs::remove_all(fs::path(output) / "state" / "shards", ec);
  if (ec) return Internal("cannot remove " + (fs::path(output) / "state" / "shards").string() + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

StatusOr<proto::JobResults> run_search_job(const proto::JobSpec& spec, const proto::BundleManifest& manifest, int steps,
                                           Executor& executor, const RunOptions& options) {
  ASSIGN_OR_RETURN(const std::vector<PromptEntry> suite, read_prompt_suite(spec.prompts()));
  const std::unique_ptr<JobStore> store = make_file_job_store(spec.output());
  JobRun run(spec, manifest, steps, executor, *store);
  RETURN_IF_ERROR(run.add_prompts(suite, steps));  // validates the search spec before any output
  ASSIGN_OR_RETURN(const proto::JobRecord record, make_job_record(spec, static_cast<uint32_t>(suite.size())));
  std::vector<std::string> texts;
  for (const PromptEntry& e : suite) texts.push_back(e.text);
  if (options.restart) RETURN_IF_ERROR(remove_outputs(spec.output(), *store));
  RETURN_IF_ERROR(store->open(record, texts, options.restart));
  RETURN_IF_ERROR(take_back_stale_leases(*store));
  ASSIGN_OR_RETURN(const std::vector<proto::Lease> leases, store->claim(owner_id(), static_cast<int>(suite.size()), kRunLeaseSeconds));
  RETURN_IF_ERROR(run.resume(leases));
  install_stop_signals();
  spdlog::info("job {}: {} prompts, method {}, {} steps, batch {}, {} worker{}", spec.name(), suite.size(),
               spec.search().method(), steps, spec.batch_size(), executor.workers(), executor.workers() == 1 ? "" : "s");
  ASSIGN_OR_RETURN(proto::JobResults results, run.run());
  RETURN_IF_ERROR(store->add_outputs({"results.json"}));
  RETURN_IF_ERROR(write_file_atomic((fs::path(spec.output()) / "results.json").string(), to_json(results)));
  return results;
}

std::string summary_table(const proto::JobResults& r) {
  std::ostringstream out;
  std::vector<std::string> metrics;
  for (const auto& [name, stats] : r.metrics()) metrics.push_back(name);
  std::sort(metrics.begin(), metrics.end());
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-4s %-36s %8s", "#", "prompt", "nfe");
  out << buf;
  for (const auto& m : metrics) {
    std::snprintf(buf, sizeof buf, " %14s", m.c_str());
    out << buf;
  }
  out << "\n";
  for (const auto& p : r.prompts()) {
    const std::string text = p.prompt().size() > 36 ? p.prompt().substr(0, 33) + "..." : p.prompt();
    std::snprintf(buf, sizeof buf, "%-4u %-36s %8lld", p.index(), text.c_str(), static_cast<long long>(p.nfe()));
    out << buf;
    for (const auto& m : metrics) {
      std::snprintf(buf, sizeof buf, " %14.4f", p.scores().at(m));
      out << buf;
    }
    out << "\n";
  }
  for (const char* row : {"mean", "std"}) {
    std::snprintf(buf, sizeof buf, "%-41s %8s", row, "");
    out << buf;
    for (const auto& m : metrics) {
      const auto& s = r.metrics().at(m);
      std::snprintf(buf, sizeof buf, " %14.4f", std::string(row) == "mean" ? s.mean() : s.std());
      out << buf;
    }
    out << "\n";
  }
  std::snprintf(buf, sizeof buf, "method %s: %lld NFE, %lld reward calls, %lld decoder calls, %.1f s\n", r.method().c_str(),
                static_cast<long long>(r.totals().nfe()), static_cast<long long>(r.totals().reward_calls()),
                static_cast<long long>(r.totals().decode_calls()), r.totals().wall_seconds());
  out << buf;
  return out.str();
}

}  // namespace evosearch
