#include "coordinator/batch_profile.h"

#include <chrono>
#include <cstdlib>
#include <ctime>

#include <google/protobuf/util/json_util.h>

#include "common/atomic_file.h"
#include "common/checksum.h"
#include "common/logging.h"

namespace evosearch {
namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace

std::string batch_profile_folder() {
  if (const std::string given = env("EVOSEARCH_CACHE_DIR"); !given.empty()) return given == "off" ? "" : given;
  if (const std::string xdg = env("XDG_CACHE_HOME"); !xdg.empty()) return xdg + "/evosearch";
  if (const std::string home = env("HOME"); !home.empty()) return home + "/.cache/evosearch";
  return "";
}

std::string batch_profile_path(const std::string& folder, const BatchProfileKey& key) {
  std::string text;
  for (const auto& [name, value] : key) text += name + "=" + value + "\n";
  return folder + "/batch-sizes/" + sha256_hex(text).substr(0, 24) + ".json";
}

std::optional<proto::BatchSizeChoice> read_batch_profile(const std::string& folder, const BatchProfileKey& key) {
  const std::string path = batch_profile_path(folder, key);
  const StatusOr<std::string> bytes = read_file(path);
  if (!bytes.ok()) {
    if (bytes.status().code() != StatusCode::kNotFound) {
      spdlog::warn("batch-size profile {} cannot be read ({}): measuring again", path, bytes.status().message());
    }
    return std::nullopt;
  }
  proto::BatchSizeProfile profile;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // a newer evosearch's extra fields
  const auto parsed = google::protobuf::util::JsonStringToMessage(*bytes, &profile, options);
  const bool same_key = parsed.ok() && BatchProfileKey(profile.key().begin(), profile.key().end()) == key;
  const proto::BatchSizeChoice& stored = profile.choice();
  bool chosen_was_measured = false;
  for (const proto::BatchSizeRate& rate : stored.rates()) chosen_was_measured |= rate.batch_size() == stored.chosen();
  if (!same_key || !chosen_was_measured) {
    spdlog::warn("batch-size profile {} {}: measuring again, and replacing it", path,
                 !parsed.ok()   ? "is not a profile (" + std::string(parsed.message()) + ")"
                 : !same_key    ? "was written for other settings"
                                : "names a batch size it did not measure");
    return std::nullopt;
  }
  proto::BatchSizeChoice choice = stored;
  choice.set_source("cached profile");
  choice.set_profile(path);
  spdlog::debug("batch-size profile {} measured {}", path, profile.measured_at());
  return choice;
}

StatusOr<std::string> write_batch_profile(const std::string& folder, const BatchProfileKey& key,
                                          const proto::BatchSizeChoice& choice) {
  proto::BatchSizeProfile profile;
  profile.mutable_key()->insert(key.begin(), key.end());
  *profile.mutable_choice() = choice;
  profile.mutable_choice()->clear_profile();
  profile.set_measured_at(utc_now());
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(profile, &json, options);
  const std::string path = batch_profile_path(folder, key);
  RETURN_IF_ERROR(write_file_atomic(path, json));
  return path;
}

}  // namespace evosearch
