// A reward served by another process (RewardSpec.service) behind the LoadedModule interface, so
// Bundle::score has one code path: forward(pixels, prompts: List[str]) -> scores [B].
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "worker/module_loader.h"
#include "worker/reward_socket.h"

namespace evosearch {

// The service at `address` ("unix:PATH"; a relative PATH is taken from `bundle_dir`). Nothing
// is connected until the first call. Scores come back float32 on `device`.
StatusOr<std::unique_ptr<LoadedModule>> open_reward_service(const proto::RewardSpec& spec, const std::string& bundle_dir,
                                                            const at::Device& device);

// The socket path of a RewardSpec.service, made absolute against `bundle_dir`.
std::string reward_service_path(const std::string& address, const std::string& bundle_dir);

}  // namespace evosearch
