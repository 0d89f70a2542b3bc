// Reads and checks a bundle's manifest.json. Every problem names the field and what was
// expected; defaults are filled in so later code never sees an unset field.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "evosearch/bundle.pb.h"

namespace evosearch {

// A reward service's wait for one batch's reply when its RewardSpec gives no timeout_seconds.
constexpr double kDefaultRewardServiceTimeout = 300;

// Parses `json` (the text of manifest.json); `origin` names it in messages.
StatusOr<proto::BundleManifest> parse_manifest(const std::string& json, const std::string& origin);

// Reads <bundle_dir>/manifest.json and parses it.
StatusOr<proto::BundleManifest> load_manifest(const std::string& bundle_dir);

// Refuses a manifest whose latent_shape would not fit in the memory available to this process:
// opening the bundle dry-runs the modules on a batch of such latents.
Status check_latent_fits(const proto::BundleManifest& manifest, const std::string& bundle_dir);

// The number of floats in one prompt's condition with version 2's `conditions` (their sizes
// added up); 0 without them.
int64_t condition_parts_width(const proto::BundleManifest& manifest);

// Index of the reward marked "guidance".
int guidance_reward_index(const proto::BundleManifest& manifest);

}  // namespace evosearch
