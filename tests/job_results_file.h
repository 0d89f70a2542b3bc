// A job's results.json read back in tests, failing the test (not crashing it) when it is missing
// or does not parse.
#pragma once

#include <filesystem>
#include <string>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "evosearch/job.pb.h"
#include "common/atomic_file.h"

namespace evosearch::testing_support {

inline proto::JobResults read_job_results(const std::string& path) {
  proto::JobResults r;
  auto text = read_file(path);
  EXPECT_TRUE(text.ok()) << text.status().to_string();
  if (text.ok()) {
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(*text, &r).ok()) << path;
  }
  return r;
}

// The results.json of the job whose spec is `spec`, its output folder being "out" beside it.
inline proto::JobResults results_of(const std::string& spec) {
  return read_job_results((std::filesystem::path(spec).parent_path() / "out" / "results.json").string());
}

}  // namespace evosearch::testing_support
