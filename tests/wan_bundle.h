// The tiny Wan 2.1 bundle of models/export_wan.py (random weights, random stand-in text
// embeddings) and an EvoSearch job on it, for the tests that run it (WanBundle.*, MpiWan.*).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "distributed_jobs.h"

namespace evosearch::testing_support {

inline const char* const kWanPrompts[] = {"a red fox running through snow", "a sailing boat at dusk", "a green hill"};

// True when /usr/bin/python3 can run models/export_wan.py (it needs python3-torch).
inline bool have_python_torch() { return std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0; }

// Exports the tiny bundle into `dir`/bundle for the suite `dir`/suite.txt (kWanPrompts); the
// export's exit code and output.
inline CommandResult export_tiny_wan(const std::string& dir) {
  std::ofstream suite(dir + "/suite.txt");
  for (const char* p : kWanPrompts) suite << p << "\n";
  suite.close();
  return run_shell("/usr/bin/python3 " EVOSEARCH_SOURCE_DIR "/models/export_wan.py --scale tiny --out " + dir +
                   "/bundle --random-text-embeddings " + dir + "/suite.txt");
}

// `dir`/`name`.json: EvoSearch with S = 0,4 and K = 4,3,3 over 8 steps (4*8 + 3*8 + 3*4 = 68 NFE
// and 10 reward calls per prompt) on `dir`/bundle, answers in `dir`/`name`/out.
inline std::string write_wan_job(const std::string& dir, const std::string& name) {
  const std::string folder = dir + "/" + name;
  std::filesystem::create_directories(folder);
  std::ofstream(folder + "/job.json") << R"({"bundle": "../bundle", "prompts": "../suite.txt", "output": "out",
    "seed": 3, "sampler": {"steps": 8}, "batch_size": 4, "batch_size_policy": "fixed",
    "search": {"method": "evosearch", "evolution_steps": [0, 4], "population": [4, 3, 3], "elites": 1}})";
  return folder + "/job.json";
}

}  // namespace evosearch::testing_support
