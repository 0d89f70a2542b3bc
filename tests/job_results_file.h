// A job's results.json read back in tests, failing the test (not crashing it) when it is missing
// or does not parse.
#pragma once

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

}  // namespace evosearch::testing_support
