// One state as the data plane moves it: a contiguous buffer (the state, then its x0 estimate when
// it has one) in host or accelerator memory. Made by a backend, sent or filled by a data plane.
#pragma once

#include <cstddef>
#include <memory>

namespace evosearch {

struct StateBuffer {
  void* data = nullptr;
  size_t bytes = 0;
  std::shared_ptr<void> owner;  // keeps the memory alive while the buffer is in use
  // For accelerator memory: the CUDA stream (a cudaStream_t) on which the bytes were produced.
  // A data plane that runs on its own stream waits for this one before reading the buffer; null
  // for host memory, or when the bytes are ready already.
  void* ready_stream = nullptr;
};

}  // namespace evosearch
