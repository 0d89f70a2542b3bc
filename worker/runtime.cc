#include "worker/runtime.h"

#include <dlfcn.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include "worker/allocator.h"

#ifdef EVOSEARCH_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace evosearch {

namespace {

// Same answers whatever the batch composition or the number of workers: TF32 (on by default for
// cuDNN convolutions) rounds to 10-bit mantissas and its error depends on the kernel chosen for
// each batch size, which moved rewards by up to 1.5e-3 between worker counts on an H200.
void use_reproducible_math() {
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  at::globalContext().setBenchmarkCuDNN(false);
}

// OpenBLAS (Debian's libopenblas0-pthread, which LibTorch's CPU matrix products call) runs a
// matrix product large enough on a thread pool of its own, one thread per core, beside LibTorch's
// OpenMP threads; afterwards its threads wait for more work by spinning on sched_yield, holding
// the cores the OpenMP threads need. Measured on the demo's flow job (batch 32, 2 cores): 435,506
// sched_yield calls, 5-7 s of system time, and the job 1.5x slower than with OpenBLAS kept on the
// calling thread (bench/compare_python_loop.sh). LibTorch already spreads its work over its
// OpenMP threads, so OpenBLAS runs on the thread that calls it, unless the user set
// OPENBLAS_NUM_THREADS. Looked up at run time: other builds use MKL or another BLAS.
void keep_blas_on_the_calling_thread() {
  if (std::getenv("OPENBLAS_NUM_THREADS")) return;
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(1);
}

}  // namespace

StatusOr<at::Device> choose_device(const std::string& name) {
  use_reproducible_math();
  if (name == "auto") return torch::cuda::is_available() ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  // Checked before at::Device parses it: its index is 8 bits in LibTorch 2.x, so "cuda:999" wraps.
  if (name.rfind("cuda:", 0) == 0 && torch::cuda::is_available()) {
    const std::string digits = name.substr(5);
    const bool numeric = !digits.empty() && digits.size() < 6 && digits.find_first_not_of("0123456789") == std::string::npos;
    if (numeric && std::stoi(digits) >= static_cast<int>(torch::cuda::device_count())) {
      return InvalidArgument("--device " + name + ": there are only " + std::to_string(torch::cuda::device_count()) +
                             " CUDA devices");
    }
  }
  try {
    const at::Device device(name);
    if (device.is_cuda() && !torch::cuda::is_available()) {
      return FailedPrecondition("--device " + name + ": CUDA is not available in this build or on this machine (" +
                                "LibTorch " + torch_version_string() + "); use --device cpu");
    }
    if (device.is_cuda() && device.has_index() &&
        device.index() >= static_cast<int>(torch::cuda::device_count())) {
      return InvalidArgument("--device " + name + ": there are only " + std::to_string(torch::cuda::device_count()) +
                             " CUDA devices");
    }
    return device;
  } catch (const std::exception&) {
    return InvalidArgument("--device " + name + ": expected auto, cpu, cuda or cuda:N");
  }
}

StatusOr<at::Device> choose_device_for_rank(const std::string& name, int local_rank) {
  if (name == "auto" && torch::cuda::is_available()) {
    return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(local_rank % static_cast<int>(torch::cuda::device_count())));
  }
  return choose_device(name);
}

int set_compute_threads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  keep_blas_on_the_calling_thread();
  return at::get_num_threads();
}

ScopedComputeThreads::ScopedComputeThreads(int threads) : saved_(at::get_num_threads()) { at::set_num_threads(threads); }

ScopedComputeThreads::~ScopedComputeThreads() { at::set_num_threads(saved_); }

std::string runtime_summary(const at::Device& device) {
  return "LibTorch " + torch_version_string() + ", device " + device.str() + ", " +
         std::to_string(at::get_num_threads()) + " compute threads, freed memory " +
         (allocator_retains_memory() ? "retained" : "returned to the system");
}

namespace {

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    const size_t start = colon == std::string::npos ? colon : line.find_first_not_of(' ', colon + 1);
    if (start != std::string::npos) return line.substr(start);
  }
  return "unknown CPU";
}

}  // namespace

std::string device_description(const at::Device& device) {
#ifdef EVOSEARCH_WITH_CUDA
  if (device.is_cuda()) {
    const cudaDeviceProp* properties = at::cuda::getDeviceProperties(device.has_index() ? device.index() : 0);
    return std::string("cuda: ") + properties->name + ", " + std::to_string(properties->totalGlobalMem >> 20) + " MiB";
  }
#endif
  if (device.is_cpu()) {
    return "cpu: " + cpu_model_name() + ", " + std::to_string(at::get_num_threads()) + " compute threads";
  }
  return device.str();
}

}  // namespace evosearch
