// Shared by the fuzz targets: a private scratch folder for targets that must read from files,
// and a check that fails loudly (libFuzzer and the corpus replay both count an abort as a crash).
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace evosearch::fuzz {

// Aborts with `what` when `condition` is false: a broken promise of the code under test.
inline void expect(bool condition, const std::string& what) {
  if (condition) return;
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what.c_str());
  std::abort();
}

inline bool finite(double x) { return std::isfinite(x); }

// A folder of this process's own under $TMPDIR (or /tmp), removed at exit. Every target writes
// only inside it, whatever the input says.
class Scratch {
 public:
  static const std::filesystem::path& dir() {
    static Scratch scratch;
    return scratch.dir_;
  }

  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

 private:
  Scratch() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/evosearch-fuzz-XXXXXX";
    expect(mkdtemp(pattern.data()) != nullptr, "cannot create a scratch folder from " + pattern);
    dir_ = pattern;
  }

  std::filesystem::path dir_;
};

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  expect(static_cast<bool>(out), "cannot write " + path.string());
}

}  // namespace evosearch::fuzz
