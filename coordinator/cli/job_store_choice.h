// Where `run` and `status` find the job store's URL, so that a password in it need never be on a
// command line (readable by every user of the node in /proc/PID/cmdline): the flag, else a file
// of mode 0600 (--job-store-file), else EVOSEARCH_JOB_STORE, else the spec's job_store.
#pragma once

#include <string>

#include "common/status.h"

namespace evosearch {

// The store's URL from `flag` (--job-store, or status's argument), else the first line of
// `file` (which group and others must not be able to read or write), else EVOSEARCH_JOB_STORE;
// "" when none is given (the spec's job_store, or the file store). Errors never hold the URL.
StatusOr<std::string> choose_job_store(const std::string& flag, const std::string& file);

// Overwrites, in place, every password of a store URL among the arguments with '*', so that
// /proc/PID/cmdline no longer shows it; true when it found one (then warns that the password
// was readable until now and names the ways that keep it off the command line).
bool hide_passwords_in_arguments(int argc, char** argv);

}  // namespace evosearch
