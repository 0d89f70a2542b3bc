// The batch-size profile cache: a batch size measured by one run (worker/batch_calibration.h),
// kept for the next job on the same device, bundle files and settings, so that only a machine's
// first job with a bundle spends the measurement's time (about a second on the demo bundles,
// longer on a large model). One small JSON file per combination, written atomically, so several
// jobs (a Slurm array on a shared home folder) may read and write the cache at once: the last
// writer wins, and any of their measurements is a good one.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "common/status.h"
#include "evosearch/job.pb.h"

namespace evosearch {

// Where profiles are kept: $EVOSEARCH_CACHE_DIR, else $XDG_CACHE_HOME/evosearch, else
// $HOME/.cache/evosearch; "" when EVOSEARCH_CACHE_DIR is "off" or none of these is set.
std::string batch_profile_folder();

// What a measurement depends on, by name: a profile is used only when every entry is the same.
using BatchProfileKey = std::map<std::string, std::string>;

// The file of `key`'s profile in `folder`: batch-sizes/<a digest of the key>.json.
std::string batch_profile_path(const std::string& folder, const BatchProfileKey& key);

// The choice stored for `key` (source "cached profile", `profile` naming the file), or nothing
// when there is none. A file that cannot be read or parsed, or that holds another key, is logged
// as a warning and counts as none: the run measures again and replaces it.
std::optional<proto::BatchSizeChoice> read_batch_profile(const std::string& folder, const BatchProfileKey& key);

// Saves a measured choice for `key` (atomically). Returns the file's path; an error names it and
// the system's reason (the caller logs it and goes on: a cache is never a reason to fail a job).
StatusOr<std::string> write_batch_profile(const std::string& folder, const BatchProfileKey& key,
                                          const proto::BatchSizeChoice& choice);

}  // namespace evosearch
