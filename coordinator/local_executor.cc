#include "coordinator/local_executor.h"

#include <algorithm>

#include "common/shard_files.h"

namespace evosearch {

Status LocalExecutor::submit(const std::vector<proto::PromptRolloutTask>& tasks) {
  pending_.insert(pending_.end(), tasks.begin(), tasks.end());
  return Status::Ok();
}

StatusOr<std::vector<proto::PromptRolloutResult>> LocalExecutor::wait() {
  std::vector<proto::PromptRolloutTask> tasks;
  tasks.swap(pending_);
  if (tasks.empty()) return std::vector<proto::PromptRolloutResult>{};
  for (const proto::PromptRolloutTask& t : tasks) traffic_.kept_states += t.task().keep_steps_size();
  auto results = backend_.run(tasks);
  if (!results.ok()) {  // every pending task was in the failed call
    failed_prompts_.clear();
    for (const proto::PromptRolloutTask& t : tasks) {
      if (std::find(failed_prompts_.begin(), failed_prompts_.end(), t.prompt()) == failed_prompts_.end()) {
        failed_prompts_.push_back(t.prompt());
      }
    }
  }
  return results;
}

StatusOr<std::vector<proto::ShardRef>> LocalExecutor::write_shards(uint32_t prompt,
                                                                    const std::vector<proto::StateRef>& refs,
                                                                    const ShardTarget& target) {
  ASSIGN_OR_RETURN(std::vector<proto::StoredState> states, backend_.export_states(prompt, refs));
  ASSIGN_OR_RETURN(proto::ShardRef shard, write_shard(target.output_dir, shard_path(prompt, target.generation, target.token, 0),
                                                      prompt, std::move(states)));
  traffic_.shard_bytes += shard.bytes();
  traffic_.shard_states += shard.states_size();
  return std::vector<proto::ShardRef>{std::move(shard)};
}

Status LocalExecutor::load_shards(uint32_t prompt, const std::string& output_dir,
                                  const google::protobuf::RepeatedPtrField<proto::ShardRef>& shards) {
  for (const proto::ShardRef& ref : shards) {
    ASSIGN_OR_RETURN(const proto::StateShard shard, read_shard(output_dir, ref, prompt));
    RETURN_IF_ERROR(backend_.import_states(prompt, shard.states()));
  }
  return Status::Ok();
}

}  // namespace evosearch
