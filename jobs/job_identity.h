// What decides a job's answers: the spec's answer-relevant settings and the digests of its input
// files. A job store keeps this record when the job is created and refuses to resume a job whose
// record differs, so a checkpoint is never continued with other settings, weights or prompts.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/status.h"
#include "evosearch/job.pb.h"
#include "evosearch/job_records.pb.h"

namespace evosearch {

// The spec with every setting cleared that cannot change the answers (see the .cc for each one).
proto::JobSpec answer_spec(const proto::JobSpec& spec);

// "prompts" -> sha256 of the prompt suite file, "bundle/<path relative to the bundle folder>" ->
// sha256 of every file in the bundle folder, recursively. Errors name the file.
StatusOr<std::map<std::string, std::string>> input_digests(const proto::JobSpec& spec);

// The record a job store keeps for `spec`: name, answer_spec, input digests, prompt count and the
// noise formula this build draws.
StatusOr<proto::JobRecord> make_job_record(const proto::JobSpec& spec, uint32_t prompt_count);

// Every difference between a stored record and the current one that can change the answers,
// one per line: spec fields by path ("search.population[0]: 4 -> 5"), input files changed, added
// or removed, the prompt count and the noise formula. Empty when they match. Names and timestamps
// are not compared.
std::string job_differences(const proto::JobRecord& stored, const proto::JobRecord& current);

}  // namespace evosearch
