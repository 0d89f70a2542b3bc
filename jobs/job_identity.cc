#include "jobs/job_identity.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>

#include "common/checksum.h"
#include "common/keyed_rng.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;
using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;

// The value of the last field of `path` in `parent`, the message that holds it (what the
// differencer passes to a reporter); `added` picks the index on the new side.
std::string value_at(const Message& parent, const std::vector<MessageDifferencer::SpecificField>& path, bool added) {
  const auto& last = path.back();
  if (!last.field) return "?";  // an unknown field: JobSpec is parsed strictly, so none are expected
  const int index = added && last.new_index >= 0 ? last.new_index : last.index;
  google::protobuf::TextFormat::Printer printer;
  printer.SetSingleLineMode(true);
  std::string text;
  printer.PrintFieldValueToString(parent, last.field, last.field->is_repeated() ? index : -1, &text);
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text.empty() ? "{}" : text;
}

// Collects one line per differing field, named by its path: "search.population[0]".
class PathReporter : public MessageDifferencer::Reporter {
 public:
  explicit PathReporter(std::vector<std::string>& lines) : lines_(lines) {}

  void ReportAdded(const Message&, const Message& current, const std::vector<MessageDifferencer::SpecificField>& path) override {
    lines_.push_back(name(path, true) + ": unset -> " + value_at(current, path, true));
  }
  void ReportDeleted(const Message& stored, const Message&, const std::vector<MessageDifferencer::SpecificField>& path) override {
    lines_.push_back(name(path, false) + ": " + value_at(stored, path, false) + " -> unset");
  }
  void ReportModified(const Message& stored, const Message& current,
                      const std::vector<MessageDifferencer::SpecificField>& path) override {
    const auto* field = path.back().field;
    if (field && field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) return;  // its fields come one by one
    lines_.push_back(name(path, false) + ": " + value_at(stored, path, false) + " -> " + value_at(current, path, true));
  }

 private:
  static std::string name(const std::vector<MessageDifferencer::SpecificField>& path, bool added) {
    std::string out = "spec";
    for (const auto& step : path) {
      out += "." + (step.field ? step.field->name() : std::to_string(step.unknown_field_number));
      const int index = added && step.new_index >= 0 ? step.new_index : step.index;
      if (step.field && step.field->is_repeated()) out += "[" + std::to_string(index) + "]";
    }
    return out;
  }

  std::vector<std::string>& lines_;
};

}  // namespace

proto::JobSpec answer_spec(const proto::JobSpec& spec) {
  proto::JobSpec s = spec;
  s.clear_name();  // a label for logs
  // Paths: the bytes behind them are compared through input_digests, so a job whose bundle or
  // output folder is mounted elsewhere on another node is still the same job.
  s.clear_bundle();
  s.clear_prompts();
  s.clear_output();
  // Execution settings: noise is keyed per (prompt, generation, candidate, step) and searchers
  // take results in candidate order, so batching, interleaving and the device change at most the
  // float rounding of the model (README, "Resuming"), not which answers the search finds. A job
  // requeued onto another GPU type or with another batch size must be able to resume.
  s.clear_batch_size();
  s.clear_batch_size_policy();
  s.clear_prompts_in_flight();
  s.clear_device();
  s.clear_generation_grids();  // extra pictures of each generation; the search never sees them
  s.clear_job_store();         // where the state is kept, not what it is
  s.clear_memory_limit_mb();
  s.clear_max_attempts();      // which prompts give up, never what a finished one answers
  return s;
}

StatusOr<std::map<std::string, std::string>> input_digests(const proto::JobSpec& spec) {
  std::map<std::string, std::string> digests;
  ASSIGN_OR_RETURN(digests["prompts"], sha256_file_hex(spec.prompts()));
  const fs::path bundle(spec.bundle());
  std::error_code ec;
  if (!fs::is_directory(bundle, ec)) return NotFound("bundle folder " + spec.bundle() + " does not exist");
  for (fs::recursive_directory_iterator it(bundle, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    ASSIGN_OR_RETURN(digests["bundle/" + it->path().lexically_relative(bundle).generic_string()],
                     sha256_file_hex(it->path().string()));
  }
  if (ec) return Internal("cannot list bundle folder " + spec.bundle() + ": " + ec.message());
  return digests;
}

StatusOr<proto::JobRecord> make_job_record(const proto::JobSpec& spec, uint32_t prompt_count) {
  proto::JobRecord record;
  record.set_name(spec.name());
  *record.mutable_spec() = answer_spec(spec);
  ASSIGN_OR_RETURN(const auto digests, input_digests(spec));
  record.mutable_input_digests()->insert(digests.begin(), digests.end());
  record.set_prompt_count(prompt_count);
  record.set_noise_formula(kNoiseFormula);
  return record;
}

std::string job_differences(const proto::JobRecord& stored, const proto::JobRecord& current) {
  std::vector<std::string> lines;
  PathReporter reporter(lines);
  MessageDifferencer differencer;
  differencer.ReportDifferencesTo(&reporter);
  differencer.Compare(stored.spec(), current.spec());
  // Sorted, so the message lists files in the same order every time.
  const std::map<std::string, std::string> before(stored.input_digests().begin(), stored.input_digests().end());
  const std::map<std::string, std::string> after(current.input_digests().begin(), current.input_digests().end());
  for (const auto& [file, digest] : before) {
    const auto it = after.find(file);
    if (it == after.end()) lines.push_back("input file " + file + " removed");
    else if (it->second != digest) lines.push_back("input file " + file + " changed");
  }
  for (const auto& [file, digest] : after) {
    if (!before.count(file)) lines.push_back("input file " + file + " added");
  }
  // Records from before the field hold 0: their builds drew formula 1.
  const uint32_t stored_formula = std::max<uint32_t>(stored.noise_formula(), 1);
  const uint32_t current_formula = std::max<uint32_t>(current.noise_formula(), 1);
  if (stored_formula != current_formula) {
    lines.push_back("noise formula: " + std::to_string(stored_formula) + " -> " + std::to_string(current_formula) +
                    " (its checkpoints were drawn by another evosearch version; finish the job with that one)");
  }
  if (stored.prompt_count() != current.prompt_count()) {
    lines.push_back("prompt count: " + std::to_string(stored.prompt_count()) + " -> " + std::to_string(current.prompt_count()));
  }
  std::string out;
  for (const std::string& line : lines) out += (out.empty() ? "" : "\n") + line;
  return out;
}

}  // namespace evosearch
