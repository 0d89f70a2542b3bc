#include "tiny_bundle.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <unistd.h>

#include <torch/script.h>

namespace evosearch::testing_support {
namespace fs = std::filesystem;

namespace {

void save_module(const std::string& source, const std::string& path) {
  if (source.empty()) return;
  torch::jit::Module module("TinyModule");
  module.define(source);
  fs::create_directories(fs::path(path).parent_path());
  module.save(path);
}

}  // namespace

std::string TinyBundle::write(const std::string& dir) const {
  fs::remove_all(dir);
  fs::create_directories(dir);
  save_module(encoder, dir + "/encoder.pt");
  save_module(denoiser, dir + "/denoiser.pt");
  save_module(decoder, dir + "/decoder.pt");
  save_module(reward, dir + "/rewards/brightness.pt");
  std::ofstream(dir + "/manifest.json") << manifest;
  return dir;
}

std::string fresh_dir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  const fs::path dir = fs::path(base ? base : fs::temp_directory_path().string()) /
                       ("evosearch-test-" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  if (at == std::string::npos) throw std::invalid_argument("replaced(): '" + from + "' not found");
  return text.replace(at, from.size(), to);
}

}  // namespace evosearch::testing_support
