// How the process's allocator treats freed memory (torch-free, so main() can include it).
#pragma once

namespace evosearch {

// Keeps the memory the process frees for reuse instead of handing it back to the system at once:
// glibc's mmap threshold raised to its largest (32 MiB on 64-bit) and its trim threshold to 1 GiB,
// so a freed tensor's pages are not unmapped and faulted in again by the next model call of the
// same size (at batch 32 a CPU job spent seconds of system time in page faults; README,
// "Batch size and memory"). Tensors over 32 MiB are still mapped and unmapped per allocation.
// EVOSEARCH_RETAIN_MEMORY=0 in the environment keeps glibc's defaults, for comparison. Call once,
// first thing in main(); returns whether freed memory is retained.
bool configure_allocator();

// What configure_allocator() did, for the runtime summary line.
bool allocator_retains_memory();

}  // namespace evosearch
