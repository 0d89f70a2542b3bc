// Checkpoint shards: files of resident states, written (atomically, fsynced) by whoever holds
// the states (the coordinator in one process, each worker in a distributed job) into the job's
// output folder, and read back, checksum first, by whichever process needs them. The job store
// keeps only each shard's path and SHA-256 (proto::ShardRef).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "evosearch/job.pb.h"
#include "evosearch/job_records.pb.h"

namespace evosearch {

// "state/shards/prompt-00003-g002-t7-r1.shard": prompt, generation completed, the lease's fencing
// token (so two coordinators never write the same file) and the writer's rank.
std::string shard_path(uint32_t prompt, uint32_t generation, uint64_t token, int rank);

// Writes `states` of `prompt` to <output_dir>/<relative_path> and returns its reference.
StatusOr<proto::ShardRef> write_shard(const std::string& output_dir, const std::string& relative_path, uint32_t prompt,
                                      std::vector<proto::StoredState> states);

// Reads a shard back; DataLoss names the file when its bytes do not match the checksum, it does
// not parse, or it holds another prompt's states.
StatusOr<proto::StateShard> read_shard(const std::string& output_dir, const proto::ShardRef& ref, uint32_t prompt);

// Removes the shard files of `refs` (those of a checkpoint that a newer one replaced).
void remove_shards(const std::string& output_dir, const std::vector<proto::ShardRef>& refs);

}  // namespace evosearch
