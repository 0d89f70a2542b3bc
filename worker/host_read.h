// Every read of device values by the host in the rollout path goes through host_read, so a test
// can count the synchronisations a batch makes: on CUDA each one waits for all the work queued
// before it, and the CPU cannot run ahead to queue the next.
#pragma once

#include <cstdint>

#include "worker/torch_compat.h"

namespace evosearch {

// `t` on the CPU (the same tensor when it is there already); counts one host read.
at::Tensor host_read(const at::Tensor& t);

// Host reads this process has made so far (any thread).
int64_t host_reads();

}  // namespace evosearch
