#include "coordinator/job_setup.h"

#include <sys/stat.h>

#include <filesystem>
#include <optional>

#include <google/protobuf/util/message_differencer.h>

#include "cluster/signals.h"
#include "common/checksum.h"
#include "common/logging.h"
#include "coordinator/batch_profile.h"
#include "coordinator/job_spec.h"
#include "coordinator/local_executor.h"
#include "coordinator/memory_estimate.h"
#include "jobs/job_identity.h"
#include "jobs/job_store.h"
#include "worker/allocator.h"
#include "worker/call_costs.h"
#include "worker/runtime.h"

namespace evosearch {
namespace {

double guidance_scale(const proto::JobSpec& spec, const proto::BundleManifest& manifest) {
  return spec.sampler().has_guidance_scale() ? spec.sampler().guidance_scale() : manifest.defaults().guidance_scale();
}

}  // namespace

StatusOr<std::unique_ptr<TorchBackend>> make_torch_backend(const proto::JobSpec& spec, Bundle& bundle,
                                                           std::function<bool()> should_stop, int workers,
                                                           int batch_size) {
  ASSIGN_OR_RETURN(const SamplerConfig sampler, sampler_config(spec, bundle.manifest()));
  ASSIGN_OR_RETURN(Schedule schedule, make_schedule(bundle.manifest(), sampler));
  ASSIGN_OR_RETURN(const MemoryEstimate memory,
                   estimate_job_memory(spec, bundle.manifest(), sampler.steps, bundle.pixel_shape(),
                                       prompts_in_flight(spec, workers), workers));
  BackendOptions options;
  options.sampler = sampler;
  options.guidance_scale = guidance_scale(spec, bundle.manifest());
  options.batch_size = batch_size > 0 ? batch_size : spec.batch_size();
  options.decode_batch = memory.decode_batch;
  if (memory.decode_batch < options.batch_size) {
    spdlog::info("decoding and scoring {} of a batch's {} samples at a time: the memory limit leaves room for no more "
                 "decoded pixels",
                 memory.decode_batch, options.batch_size);
  }
  options.seed = spec.seed();
  options.keep_final_frames = spec.generation_grids();  // grids show the pixels scoring decoded
  options.should_stop = std::move(should_stop);
  spdlog::info("sampler {} {} steps, guidance {}, device {}", proto::SamplerKind_Name(sampler.kind), sampler.steps,
               options.guidance_scale, bundle.device().str());
  return std::make_unique<TorchBackend>(bundle, options, std::move(schedule));
}

namespace {

// The record of the job this run would resume (nullopt: a new job, --restart, or a store that
// cannot be read now: the run goes on as for a new job, and opening the store later reports what
// is wrong with it).
std::optional<proto::JobRecord> stored_record(const proto::JobSpec& spec, const RunOptions& options) {
  if (options.restart) return std::nullopt;
  auto store = open_job_store(options.job_store.empty() ? spec.job_store() : options.job_store, spec.output(), spec.name());
  if (!store.ok()) return std::nullopt;
  auto stored = (*store)->job();
  if (!stored.ok()) return std::nullopt;
  return std::move(*stored);
}

// The batch size the stored job was created with, when this run resumes that job (0: none).
int stored_batch_size(const proto::JobSpec& spec, const RunOptions& options) {
  const std::optional<proto::JobRecord> stored = stored_record(spec, options);
  // Only the same job's choice: another spec in the same place is a new job (or refused later).
  if (!stored || !google::protobuf::util::MessageDifferencer::Equals(stored->spec(), answer_spec(spec))) return 0;
  const int size = stored->batch_size();
  return size >= 1 && size <= spec.batch_size() ? size : 0;
}

// Everything that decides what a calibration measures: the device (and threads), the denoiser's
// file (by size and modification time: hashing a large model's weights would cost more than
// measuring), the manifest (latent and condition shapes), the precision, whether guidance doubles
// each call, the bound, how freed memory is kept, and the LibTorch and calibration versions.
BatchProfileKey batch_profile_key(const proto::JobSpec& spec, Bundle& bundle, double guidance) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string dir = fs::weakly_canonical(bundle.dir(), ec).string();
  const std::string denoiser = bundle.dir() + "/" + bundle.manifest().denoiser();
  struct stat file {};
  const bool found = ::stat(denoiser.c_str(), &file) == 0;
  const auto manifest = sha256_file_hex(bundle.dir() + "/manifest.json");
  return {
      {"bundle", ec ? bundle.dir() : dir},
      {"denoiser", bundle.manifest().denoiser() + ", " +
                       (found ? std::to_string(file.st_size) + " bytes, modified " +
                                    std::to_string(file.st_mtim.tv_sec) + "." + std::to_string(file.st_mtim.tv_nsec)
                              : std::string("not found"))},
      {"manifest", manifest.ok() ? *manifest : "unreadable"},
      {"device", device_description(bundle.device())},
      {"dtype", bundle.dtype()},
      {"guidance", guidance == 1 ? "off (one call per candidate)" : "on (two calls per candidate)"},
      {"max_batch", std::to_string(spec.batch_size())},
      {"memory", allocator_retains_memory() ? "retained" : "returned"},
      {"libtorch", torch_version_string()},
      {"calibration", std::to_string(kBatchCalibrationVersion)},
  };
}

// The search without what the planner chose (the fields its plan names, and the plan).
proto::SearchSpec unplanned(const proto::SearchSpec& search) {
  proto::SearchSpec s = search;
  const google::protobuf::Descriptor* d = s.GetDescriptor();
  for (const std::string& field : search.plan().fields()) {
    if (const google::protobuf::FieldDescriptor* f = d->FindFieldByName(field)) s.GetReflection()->ClearField(&s, f);
  }
  s.clear_plan();
  return s;
}

}  // namespace

Status plan_seconds_budget(proto::JobSpec& spec, const proto::BundleManifest& manifest, Bundle* bundle,
                           const RunOptions& options, int batch) {
  proto::SearchSpec& search = *spec.mutable_search();
  if (!(search.model_seconds_budget() > 0) || !needs_plan(search)) return Status::Ok();
  // Costs already in the plan were set in code (a benchmark comparing methods at the same
  // prices): a spec file's plan is cleared when it is read.
  proto::SearchPlan measured;
  if (search.plan().seconds_per_nfe() > 0) {
    measured = search.plan();
  } else if (const std::optional<proto::JobRecord> stored = stored_record(spec, options);
             stored && stored->spec().search().plan().seconds_per_nfe() > 0) {
    // The same job only: everything else equal once what the planner chose is taken out.
    proto::JobSpec ours = answer_spec(spec), theirs = stored->spec();
    *ours.mutable_search() = unplanned(ours.search());
    *theirs.mutable_search() = unplanned(theirs.search());
    if (google::protobuf::util::MessageDifferencer::Equals(ours, theirs)) {
      measured = stored->spec().search().plan();
      spdlog::info("model_seconds_budget: planning with the call costs this job was created with (measured at batch "
                   "{}), so the resumed search is the same",
                   measured.measured_batch());
    }
  }
  ASSIGN_OR_RETURN(const SamplerConfig sampler, sampler_config(spec, manifest));
  if (!(measured.seconds_per_nfe() > 0) && bundle) {
    ASSIGN_OR_RETURN(const Schedule schedule, make_schedule(manifest, sampler));
    ASSIGN_OR_RETURN(const CallCosts costs, measure_call_costs(*bundle, schedule, guidance_scale(spec, manifest), batch));
    measured.set_seconds_per_nfe(costs.seconds_per_nfe);
    measured.set_seconds_per_decode(costs.seconds_per_decode);
    measured.set_seconds_per_reward(costs.seconds_per_reward);
    measured.set_measured_batch(costs.batch);
  }
  *search.mutable_plan() = measured;
  return plan_search(search, sampler.steps);
}

StatusOr<proto::BatchSizeChoice> choose_batch_size(const proto::JobSpec& spec, Bundle& bundle, const RunOptions& options,
                                                   double& calibration_seconds, const BatchTimer& timer,
                                                   BatchProfileWrite* deferred) {
  calibration_seconds = 0;
  proto::BatchSizeChoice choice;
  if (spec.batch_size_policy() == "fixed" || spec.batch_size_policy().empty()) {
    choice.set_chosen(spec.batch_size());
    choice.set_source("fixed");
    return choice;
  }
  if (const int stored = stored_batch_size(spec, options); stored > 0) {
    choice.set_chosen(stored);
    choice.set_source("job record");
    spdlog::info("batch size {}: the size this job was created with (batch_size_policy auto, up to {})", stored,
                 spec.batch_size());
    return choice;
  }
  const double guidance = guidance_scale(spec, bundle.manifest());
  const BatchProfileKey key = options.batch_profiles.empty() ? BatchProfileKey() : batch_profile_key(spec, bundle, guidance);
  if (!options.batch_profiles.empty() && spec.batch_size_policy() == "auto") {
    if (std::optional<proto::BatchSizeChoice> cached = read_batch_profile(options.batch_profiles, key)) {
      spdlog::info("batch size {}: measured by an earlier job on this device with this bundle (profile {}; "
                   "batch_size_policy measure measures again)",
                   cached->chosen(), cached->profile());
      return *cached;
    }
  }
  ASSIGN_OR_RETURN(const SamplerConfig sampler, sampler_config(spec, bundle.manifest()));
  ASSIGN_OR_RETURN(const Schedule schedule, make_schedule(bundle.manifest(), sampler));
  BatchCalibrationOptions calibration;
  calibration.max_batch = spec.batch_size();
  const StatusOr<BatchCalibration> calibrated = calibrate_batch_size(
      timer ? timer : denoiser_timer(bundle, schedule, guidance), calibration);
  if (!calibrated.ok()) {
    // The job's own calls meet the same fault and name it with its prompt and step.
    spdlog::warn("batch size {} (batch_size as given): measuring failed: {}", spec.batch_size(),
                 calibrated.status().message());
    choice.set_chosen(spec.batch_size());
    choice.set_source("fixed");
    return choice;
  }
  const BatchCalibration& measured = *calibrated;
  calibration_seconds = measured.seconds;
  choice.set_chosen(measured.chosen);
  choice.set_source("measured");
  std::string rates;
  for (const BatchRate& r : measured.rates) {
    proto::BatchSizeRate* rate = choice.add_rates();
    rate->set_batch_size(r.batch);
    rate->set_nfe_per_second(r.nfe_per_second);
    rates += fmt::format("{}{}: {:.0f}", rates.empty() ? "" : ", ", r.batch, r.nfe_per_second);
  }
  spdlog::info("batch size {}: the fastest up to {} on {} (NFE/s by batch size: {}; measured in {:.2f} s; "
               "batch_size_policy fixed uses batch_size as given)",
               measured.chosen, spec.batch_size(), bundle.device().str(), rates, measured.seconds);
  if (!options.batch_profiles.empty()) {
    BatchProfileWrite keep = [folder = options.batch_profiles, key](proto::BatchSizeChoice& kept) {
      const StatusOr<std::string> saved = write_batch_profile(folder, key, kept);
      if (saved.ok()) {
        kept.set_profile(*saved);
        spdlog::info("batch size {} kept for later jobs on this device with this bundle: {}", kept.chosen(), *saved);
      } else {
        spdlog::warn("batch-size profile not kept ({}); later jobs measure again (EVOSEARCH_CACHE_DIR chooses the "
                     "folder, off keeps none)",
                     saved.status().message());
      }
    };
    if (deferred) {
      *deferred = std::move(keep);
    } else {
      keep(choice);
    }
  }
  return choice;
}

StatusOr<proto::JobResults> run_embedded_job(const proto::JobSpec& spec, Bundle& bundle, const RunOptions& options) {
  ASSIGN_OR_RETURN(const SamplerConfig sampler, sampler_config(spec, bundle.manifest()));
  // In one process a stop signal abandons the batch at once (its generation is redone on resume).
  RunOptions with_choice = options;
  // A measured size is kept for later jobs only once this job is accepted: a refused run writes nothing.
  ASSIGN_OR_RETURN(with_choice.batch_size, choose_batch_size(spec, bundle, options, with_choice.calibration_seconds, {},
                                                             &with_choice.on_accepted));
  proto::JobSpec planned = spec;
  RETURN_IF_ERROR(plan_seconds_budget(planned, bundle.manifest(), &bundle, options, with_choice.batch_size.chosen()));
  ASSIGN_OR_RETURN(std::unique_ptr<TorchBackend> backend,
                   make_torch_backend(planned, bundle, [] { return stop_requested() != 0; }, 1,
                                      with_choice.batch_size.chosen()));
  LocalExecutor executor(*backend);
  with_choice.pixel_shape = bundle.pixel_shape();
  return run_job(planned, bundle.manifest(), sampler.steps, executor, with_choice);
}

}  // namespace evosearch
