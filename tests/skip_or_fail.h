// Skips for what the README's test command (cluster/test.sh) installs or starts: Redis, Slurm,
// Chromium, FFmpeg, the video and YAML libraries, a tmpfs mount. Without them a test skips itself,
// except under CI (CI=true): there a missing install step must not hide behind a green suite, so
// the test fails with the same reason. GPU tests (the `gpu` label) and known failures
// (tests/hostile_harness.h) skip with plain GTEST_SKIP.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

namespace evosearch::testing_support {

// True when the environment says this is a CI run (CI=true, as GitHub Actions, GitLab CI and
// most CI services set it).
inline bool under_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::strcmp(ci, "true") == 0;
}

}  // namespace evosearch::testing_support

// Skips the current test because `what` is unavailable, or under CI fails it (fatally: from SetUp the
// test body does not run) and returns. `why` may be a chain of `<<` operands:
//   EVOSEARCH_SKIP_UNLESS_CI("Redis", "nothing answers at " << url);
#define EVOSEARCH_SKIP_UNLESS_CI(what, why)                                                                  \
  do {                                                                                                       \
    if (::evosearch::testing_support::under_ci()) {                                                          \
      GTEST_FAIL() << "CI=true and " << what << " is unavailable (cluster/test.sh installs or starts it; only " \
                   << "gpu tests may skip): " << why;                                                        \
    }                                                                                                        \
    GTEST_SKIP() << what << " is unavailable: " << why;                                                      \
  } while (false)
