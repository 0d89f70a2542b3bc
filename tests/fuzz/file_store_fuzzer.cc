// A damaged or edited file job store: the input is a set of files for <output>/state/, each
// introduced by a line "=== NAME" (NAME from a fixed list: job.json, prompt-0000N.json,
// prompt-0000N.ckpt, prompt-0000N.done, outputs.txt, events.log, progress/00000000.jsonl).
// "=== NAME sealed" writes the section sealed (jobs/store_common.h: the bytes as the payload of
// a SealedRecord with their SHA-256), so that mutations of a checkpoint's or outcome's content
// get past the checksum, as a deliberately forged record would, and reach the parser and the
// searchers. They go into a scratch output folder and every read of the store runs over them:
// the job and prompt records, checkpoint records (the path a resume takes: load_checkpoint, then
// the searcher's restore and the generations after it), outcomes, progress, the output list,
// claims.
//
// Checks: a loaded checkpoint or outcome is the prompt's, and a checkpoint names shard files
// inside the output folder; the output list names only files inside it (--restart deletes them);
// a restored searcher takes the exact answers to its own tasks.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <string>

#include "coordinator/search/best_of_n_searcher.h"
#include "coordinator/search/evo_searcher.h"
#include "coordinator/search/particle_searcher.h"
#include "fuzz_support.h"
#include "common/checksum.h"
#include "jobs/job_store.h"
#include "jobs/store_common.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kPrompts = 4;
constexpr int kSteps = 12;

std::set<std::string> allowed_names() {
  std::set<std::string> names = {"job.json", "outputs.txt", "events.log", "progress/00000000.jsonl"};
  for (uint32_t i = 0; i < kPrompts; ++i) {
    const std::string stem = "prompt-0000" + std::to_string(i);
    for (const char* suffix : {".json", ".ckpt", ".done"}) names.insert(stem + suffix);
  }
  return names;
}

// Writes each "=== NAME" section of `input` to state/NAME (sealed after "=== NAME sealed");
// names off the list are skipped.
void write_state(const std::string& input, const fs::path& state) {
  static const std::set<std::string> names = allowed_names();
  const std::string marker = "=== ";
  size_t at = input.rfind(marker, 0) == 0 ? 0 : input.find("\n" + marker);
  while (at != std::string::npos) {
    const size_t name_start = at + (input[at] == '\n' ? 1 : 0) + marker.size();
    const size_t name_end = input.find('\n', name_start);
    if (name_end == std::string::npos) return;
    const size_t next = input.find("\n" + marker, name_end);
    std::string name = input.substr(name_start, name_end - name_start);
    std::string body = input.substr(name_end + 1, next == std::string::npos ? std::string::npos : next - name_end - 1);
    const std::string sealed = " sealed";
    if (name.size() > sealed.size() && name.compare(name.size() - sealed.size(), sealed.size(), sealed) == 0) {
      name.resize(name.size() - sealed.size());
      proto::SealedRecord record;
      record.set_payload(body);
      record.set_sha256(sha256_hex(body));
      body = record.SerializeAsString();
    }
    if (names.count(name)) fuzz::write_bytes(state / name, body);
    at = next;
  }
}

std::unique_ptr<Searcher> searcher_for(const std::string& method) {
  const SearchKey key{7, 0};
  if (method == "evosearch") {
    EvoSearchConfig c;
    c.steps = kSteps;
    c.evolution_steps = {0, 4, 8};
    c.population = {5, 3, 3, 3};
    return std::make_unique<EvoSearcher>(c, key);
  }
  if (method == "particles") {
    ParticleConfig c;
    c.steps = kSteps;
    c.particles = 4;
    c.interval = 4;
    return std::make_unique<ParticleSearcher>(c, key);
  }
  if (method == "best-of-n") return std::make_unique<BestOfNSearcher>(4, kSteps);
  if (method == "none") return std::make_unique<BestOfNSearcher>(1, kSteps, "none");
  return nullptr;
}

// What a resume does with a checkpoint: restore, then run the remaining generations.
void resume(const proto::CheckpointRecord& checkpoint) {
  std::unique_ptr<Searcher> searcher = searcher_for(checkpoint.snapshot().method());
  if (!searcher || !searcher->restore(checkpoint.snapshot()).ok()) return;
  for (int g = 0; g < 8 && !searcher->done(); ++g) {
    std::vector<proto::RolloutResult> results;
    for (const proto::RolloutTask& task : searcher->next_generation()) {
      proto::RolloutResult& r = results.emplace_back();
      r.set_generation(task.generation());
      r.set_candidate(task.candidate());
      r.set_fitness(static_cast<double>((task.candidate() * 37 + task.generation() * 11) % 17));
      r.set_nfe(task.end_step() - task.start_step());
      r.set_decode_calls(1);
      r.set_reward_calls(1);
    }
    const Status taken = searcher->on_results(results);
    fuzz::expect(taken.ok(), "a restored searcher refused the answers to its own tasks: " + taken.to_string());
    (void)searcher->live_states();
    (void)searcher->snapshot();
  }
}

}  // namespace
}  // namespace evosearch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace evosearch;
  const fs::path output = fuzz::Scratch::dir() / "out";
  fs::remove_all(output);
  write_state(std::string(reinterpret_cast<const char*>(data), size), output / "state");

  std::unique_ptr<JobStore> store = make_file_job_store(output.string());
  (void)store->job();
  (void)store->prompts();
  for (uint32_t i = 0; i < kPrompts; ++i) {
    auto checkpoint = store->load_checkpoint(i);
    if (checkpoint.ok() && checkpoint->has_value()) {
      const proto::CheckpointRecord& c = **checkpoint;
      fuzz::expect(c.prompt() == i, "load_checkpoint(" + std::to_string(i) + ") returned another prompt's checkpoint");
      for (const proto::ShardRef& shard : c.shards()) {
        fuzz::expect(store::check_output_path(shard.path()).ok(),
                     "a loaded checkpoint names shard file '" + shard.path() + "' outside the output folder");
      }
      resume(c);
    }
    auto outcome = store->load_outcome(i);
    if (outcome.ok() && outcome->has_value()) {
      fuzz::expect((*outcome)->index() == i, "load_outcome(" + std::to_string(i) + ") returned prompt " +
                                                 std::to_string((*outcome)->index()) + "'s outcome");
    }
  }
  auto outputs = store->outputs();
  if (outputs.ok()) {
    for (const std::string& path : *outputs) {
      fuzz::expect(store::check_output_path(path).ok(), "the output list names '" + path + "', outside the output folder");
    }
  }
  (void)store->progress(100);
  auto leases = store->claim("fuzz:1:0", 2, 60);
  if (leases.ok()) {
    for (const proto::Lease& lease : *leases) (void)store->release(lease);
  }
  return 0;
}
