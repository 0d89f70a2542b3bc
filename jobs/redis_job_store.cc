// The Redis store. Every key of job NAME is "evosearch:{NAME}:<name>", its name as listed once in
// EVOSEARCH_REDIS_JOB_KEYS (the braces are the Redis Cluster hash tag: one slot, so the scripts
// below may touch them all):
//
//   job          hash: "record" -> JobRecord (binary protobuf, without times or status),
//                "created" -> unix ms (server clock)
//   prompts      hash: "<i>:<attribute>" -> decimal or text: text, state (PromptStatus number),
//                owner, token, expires, generation, count (generation_count), best (%.17g, "" when
//                none yet), attempts, error, updated. Plain fields because the Lua scripts that
//                check leases and fencing tokens cannot read protobuf.
//   queue        sorted set of queued prompts, scored by index (claims take the lowest first)
//   leases       sorted set of running prompts, scored by lease expiry (unix ms, server clock)
//   checkpoints  hash: "<i>" -> CheckpointRecord (sealed: binary protobuf with its SHA-256)
//   outcomes     hash: "<i>" -> PromptOutcome (sealed)
//   progress     stream (XADD MAXLEN ~ kProgressLimit), field "e" -> ProgressEvent (binary)
//   events       list, newest first, capped at kEventLimit: "<ISO time> <text>"
//   outputs      set of paths relative to the output folder
//
// and, outside that list (a restart leaves them to expire): "evosearch:{NAME}:request:<id>", the
// answer (a script's reply, MessagePack) of a changing call by its request id, kept for
// kRequestMemorySeconds, so that a repeat of the call gets it back (jobs/job_store.h: RequestId).
//
// Every step that reads and writes more than one key is one Lua script, so it is atomic: a
// fenced write checks state, owner and token and writes in the same step. Lease expiry uses the
// server's TIME, so the coordinators' clocks do not matter. Needs Redis >= 5 (streams, and
// scripts replicated by effects, which lets them write after calling TIME).
#include "jobs/redis_job_store.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <utility>

#include <hiredis/hiredis.h>

#include "jobs/job_identity.h"
#include "jobs/redis_connection.h"
#include "jobs/redis_scripts.h"
#include "jobs/store_common.h"

namespace evosearch {
namespace {

constexpr size_t kEventLimit = 10000;

std::string text(const redisReply* r) { return r->type == REDIS_REPLY_NIL ? std::string() : std::string(r->str, r->len); }

std::string element(const redisReply* r, size_t i) {
  return r->type == REDIS_REPLY_ARRAY && i < r->elements ? text(r->element[i]) : std::string();
}

// What every script starts with (redis_scripts.h): each key's name bound to its entry of KEYS,
// in the order of RedisJobKeys::all(), the prompt statuses by name, then kPrelude.
std::string script_prelude() {
  std::string lua;
  int n = 0;
#define EVOSEARCH_REDIS_KEY_LOCAL(name) lua += "local " #name " = KEYS[" + std::to_string(++n) + "]\n";
  EVOSEARCH_REDIS_JOB_KEYS(EVOSEARCH_REDIS_KEY_LOCAL)
#undef EVOSEARCH_REDIS_KEY_LOCAL
  const std::pair<const char*, proto::PromptStatus> statuses[] = {
      {"QUEUED", proto::PROMPT_QUEUED}, {"RUNNING", proto::PROMPT_RUNNING}, {"DONE", proto::PROMPT_DONE}, {"FAILED", proto::PROMPT_FAILED}};
  for (const auto& [name, status] : statuses) lua += "local " + std::string(name) + " = '" + std::to_string(status) + "'\n";
  return lua + redis_scripts::kPrelude;
}

class RedisJobStore final : public store::StoreBase {
 public:
  RedisJobStore(const RedisUrl& url, std::string name, StoreClock clock)
      : StoreBase(std::move(clock)),
        redis_(url),
        name_(std::move(name)),
        keys_(redis_job_keys(name_)),
        key_list_(keys_.all()),
        request_key_prefix_("evosearch:{" + name_ + "}:request:"),
        prelude_(script_prelude()) {}

  std::string describe() const override { return redis_.url().describe() + " job " + name_; }

  Status open(const proto::JobRecord& job, const std::vector<std::string>& prompt_texts, bool restart) override {
    proto::JobRecord current = job;
    current.set_prompt_count(static_cast<uint32_t>(prompt_texts.size()));
    current.clear_created_unix_ms();
    current.clear_updated_unix_ms();
    current.clear_status();
    std::vector<std::string> args = {restart ? "1" : "0", current.SerializeAsString()};
    args.insert(args.end(), prompt_texts.begin(), prompt_texts.end());
    ASSIGN_OR_RETURN(const RedisReply reply, script(redis_scripts::kOpen, args));
    if (element(reply.get(), 0) != "exists") return Status::Ok();
    proto::JobRecord stored;
    RETURN_IF_ERROR(store::from_bytes(element(reply.get(), 1), stored, where(keys_.job, "record")));
    const std::string differences = job_differences(stored, current);
    if (differences.empty()) return Status::Ok();
    // No generation was ever committed: nothing to lose, the new record replaces the old (a run
    // that failed before its first generation must not block the corrected spec).
    ASSIGN_OR_RETURN(const RedisReply checkpoints, redis_.command({"HLEN", keys_.checkpoints}));
    ASSIGN_OR_RETURN(const RedisReply outcomes, redis_.command({"HLEN", keys_.outcomes}));
    if (checkpoints->integer > 0 || outcomes->integer > 0) return store::different_job(describe(), differences);
    args[0] = "1";
    return script(redis_scripts::kOpen, args).status();
  }

  StatusOr<std::vector<proto::Lease>> claim(const std::string& owner, int max, double lease_seconds,
                                            const RequestId& request) override {
    ASSIGN_OR_RETURN(const int64_t lease_ms, store::lease_ms(lease_seconds));
    if (max <= 0) return std::vector<proto::Lease>{};
    ASSIGN_OR_RETURN(const RedisReply reply,
                     script(redis_scripts::kClaim, {owner, std::to_string(max), std::to_string(lease_ms)}, request));
    RETURN_IF_ERROR(check(reply.get(), nullptr));
    std::vector<proto::Lease> leases;
    for (size_t i = 2; i + 1 < reply->elements; i += 2) {
      proto::Lease& lease = leases.emplace_back();
      lease.set_prompt(static_cast<uint32_t>(reply->element[i]->integer));
      lease.set_owner(owner);
      lease.set_token(static_cast<uint64_t>(reply->element[i + 1]->integer));
      lease.set_expires_unix_ms(reply->element[1]->integer);
    }
    return leases;
  }

  Status renew(proto::Lease& lease, double lease_seconds, const RequestId& request) override {
    ASSIGN_OR_RETURN(const int64_t lease_ms, store::lease_ms(lease_seconds));
    ASSIGN_OR_RETURN(const RedisReply reply, fenced(redis_scripts::kRenew, lease, {std::to_string(lease_ms)}, request));
    lease.set_expires_unix_ms(reply->element[1]->integer);
    return Status::Ok();
  }

  Status release(const proto::Lease& lease, const RequestId& request) override {
    return fenced(redis_scripts::kRelease, lease, {}, request).status();
  }

  Status commit_checkpoint(const proto::Lease& lease, const proto::CheckpointRecord& checkpoint,
                           const RequestId& request) override {
    if (checkpoint.prompt() != lease.prompt()) return store::wrong_prompt("checkpoint", checkpoint.prompt(), lease);
    char best[32] = "";
    if (checkpoint.snapshot().best().found()) std::snprintf(best, sizeof best, "%.17g", checkpoint.snapshot().best().fitness());
    return fenced(redis_scripts::kCommit, lease,
                  {store::seal(checkpoint), std::to_string(checkpoint.generation()),
                   std::to_string(checkpoint.generation_count()), best},
                  request)
        .status();
  }

  Status save_outcome(const proto::Lease& lease, const proto::PromptOutcome& outcome, const RequestId& request) override {
    if (outcome.index() != lease.prompt()) return store::wrong_prompt("outcome", outcome.index(), lease);
    return fenced(redis_scripts::kOutcome, lease, {store::seal(outcome)}, request).status();
  }

  Status mark_failed(const proto::Lease& lease, const std::string& error, const RequestId& request) override {
    return fenced(redis_scripts::kFail, lease, {error}, request).status();
  }

  StatusOr<std::optional<proto::CheckpointRecord>> load_checkpoint(uint32_t prompt) override {
    return load<proto::CheckpointRecord>(keys_.checkpoints, prompt);
  }

  StatusOr<std::optional<proto::PromptOutcome>> load_outcome(uint32_t prompt) override {
    return load<proto::PromptOutcome>(keys_.outcomes, prompt);
  }

  Status append_progress(const proto::ProgressEvent& event, const RequestId& request) override {
    return script(redis_scripts::kProgress, {event.SerializeAsString(), std::to_string(kProgressLimit)}, request).status();
  }

  StatusOr<std::vector<proto::ProgressEvent>> progress(size_t max) override {
    max = std::min(max, kProgressLimit);
    if (max == 0) return std::vector<proto::ProgressEvent>{};
    ASSIGN_OR_RETURN(const RedisReply reply, redis_.command({"XREVRANGE", keys_.progress, "+", "-", "COUNT", std::to_string(max)}));
    std::vector<proto::ProgressEvent> events(reply->elements);
    for (size_t i = 0; i < reply->elements; ++i) {
      const redisReply* entry = reply->element[i];
      const std::string id = element(entry, 0);
      const std::string where = keys_.progress + " entry " + id;
      if (entry->elements != 2 || element(entry->element[1], 0) != "e") return DataLoss(describe() + ": " + where + " has no field e");
      RETURN_IF_ERROR(store::from_bytes(element(entry->element[1], 1), events[reply->elements - 1 - i], describe() + ": " + where));
    }
    return events;
  }

  Status log_event(const std::string& event, const RequestId& request) override {
    return script(redis_scripts::kLogEvent, {store::iso_time(now_ms()) + " " + event, std::to_string(kEventLimit)}, request)
        .status();
  }

  Status add_outputs(const std::vector<std::string>& relative_paths, const RequestId& request) override {
    for (const std::string& path : relative_paths) RETURN_IF_ERROR(store::check_output_path(path));
    if (relative_paths.empty()) return Status::Ok();
    return script(redis_scripts::kOutputs, relative_paths, request).status();
  }

  StatusOr<std::vector<std::string>> outputs() override {
    ASSIGN_OR_RETURN(const RedisReply reply, redis_.command({"SMEMBERS", keys_.outputs}));
    std::vector<std::string> paths;
    for (size_t i = 0; i < reply->elements; ++i) {
      paths.push_back(element(reply.get(), i));
      // --restart deletes these: an edited set must not reach outside the output folder.
      const Status inside = store::check_output_path(paths.back());
      if (!inside.ok()) return DataLoss(keys_.outputs + ": " + inside.message() + "; nothing was deleted");
    }
    std::sort(paths.begin(), paths.end());
    return paths;
  }

 private:
  // Runs a script; under a request id, once: its answer is kept and a repeat gets it back
  // (redis_scripts::kRemembered).
  StatusOr<RedisReply> script(const char* body, const std::vector<std::string>& args, const RequestId& request = {}) {
    if (request.value.empty()) return redis_.eval(prelude_ + body, key_list_, args);
    RETURN_IF_ERROR(store::check_request(request));
    std::vector<std::string> keys = key_list_;
    keys.push_back(request_key_prefix_ + request.value);
    const std::string remembered = "local request = KEYS[" + std::to_string(keys.size()) + "]\nlocal request_ms = " +
                                   std::to_string(static_cast<int64_t>(kRequestMemorySeconds * 1000)) + "\n";
    return redis_.eval(prelude_ + "local function run()\n" + body + "\nend\n" + remembered + redis_scripts::kRemembered,
                       keys, args);
  }

  std::string where(const std::string& key, const std::string& field) const {
    return describe() + ": key " + key + " field " + field;
  }

  // A script's verdict: "ok", or why a lease (when given) or the job is not there.
  Status check(const redisReply* reply, const proto::Lease* lease) const {
    const std::string verdict = element(reply, 0);
    if (verdict == "ok") return Status::Ok();
    if (verdict == "nojob") return NotFound(describe() + " holds no job");
    if (verdict == "noprompt" && lease) {
      return InvalidArgument("lease of prompt " + std::to_string(lease->prompt()) + ", which " + describe() + " does not have");
    }
    if (verdict == "lost" && lease) {
      proto::PromptRecord now;
      now.set_status(static_cast<proto::PromptStatus>(std::atoi(element(reply, 1).c_str())));
      now.set_owner(element(reply, 2));
      now.set_token(std::strtoull(element(reply, 3).c_str(), nullptr, 10));
      return store::lease_lost(*lease, now, describe());
    }
    return Internal(describe() + ": unexpected script reply '" + verdict + "'");
  }

  StatusOr<RedisReply> fenced(const char* body, const proto::Lease& lease, const std::vector<std::string>& extra,
                              const RequestId& request) {
    std::vector<std::string> args = {std::to_string(lease.prompt()), lease.owner(), std::to_string(lease.token())};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSIGN_OR_RETURN(RedisReply reply, script(body, args, request));
    RETURN_IF_ERROR(check(reply.get(), &lease));
    return reply;
  }

  template <typename Record>
  StatusOr<std::optional<Record>> load(const std::string& key, uint32_t prompt) {
    ASSIGN_OR_RETURN(const RedisReply reply, redis_.command({"HGET", key, std::to_string(prompt)}));
    if (reply->type == REDIS_REPLY_NIL) return std::optional<Record>();
    Record record;
    RETURN_IF_ERROR(store::unseal(text(reply.get()), record, where(key, std::to_string(prompt))));
    RETURN_IF_ERROR(store::check_prompt(record, prompt, where(key, std::to_string(prompt))));
    return std::optional<Record>(std::move(record));
  }

  StatusOr<proto::JobRecord> read_job() override {
    ASSIGN_OR_RETURN(const RedisReply reply, redis_.command({"HMGET", keys_.job, "record", "created"}));
    if (reply->element[0]->type == REDIS_REPLY_NIL) return NotFound(describe() + " holds no job");
    proto::JobRecord job;
    RETURN_IF_ERROR(store::from_bytes(element(reply.get(), 0), job, where(keys_.job, "record")));
    ASSIGN_OR_RETURN(const int64_t created, number(element(reply.get(), 1), where(keys_.job, "created")));
    job.set_created_unix_ms(created);
    return job;
  }

  StatusOr<std::vector<proto::PromptRecord>> read_prompts(uint32_t count) override {
    ASSIGN_OR_RETURN(const RedisReply reply, redis_.command({"HGETALL", keys_.prompts}));
    std::map<std::string, std::string> fields;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) fields[element(reply.get(), i)] = element(reply.get(), i + 1);
    std::vector<proto::PromptRecord> all(count);
    for (uint32_t i = 0; i < count; ++i) {
      proto::PromptRecord& p = all[i];
      const std::string prefix = std::to_string(i) + ":";
      auto get = [&](const char* attribute) -> StatusOr<std::string> {
        const auto it = fields.find(prefix + attribute);
        if (it == fields.end()) return DataLoss(where(keys_.prompts, prefix + attribute) + " is missing");
        return it->second;
      };
      auto integer = [&](const char* attribute) -> StatusOr<int64_t> {
        ASSIGN_OR_RETURN(const std::string value, get(attribute));
        return number(value, where(keys_.prompts, prefix + attribute));
      };
      p.set_prompt(i);
      ASSIGN_OR_RETURN(*p.mutable_text(), get("text"));
      ASSIGN_OR_RETURN(const int64_t state, integer("state"));
      if (!proto::PromptStatus_IsValid(static_cast<int>(state))) return DataLoss(where(keys_.prompts, prefix + "state") + " is not a prompt state");
      p.set_status(static_cast<proto::PromptStatus>(state));
      ASSIGN_OR_RETURN(*p.mutable_owner(), get("owner"));
      ASSIGN_OR_RETURN(const int64_t token, integer("token"));
      p.set_token(static_cast<uint64_t>(token));
      ASSIGN_OR_RETURN(const int64_t expires, integer("expires"));
      p.set_lease_expires_unix_ms(expires);
      ASSIGN_OR_RETURN(const int64_t generation, integer("generation"));
      p.set_generation(static_cast<uint32_t>(generation));
      ASSIGN_OR_RETURN(const int64_t generation_count, integer("count"));
      p.set_generation_count(static_cast<uint32_t>(generation_count));
      ASSIGN_OR_RETURN(const std::string best, get("best"));
      char* end = nullptr;
      if (!best.empty()) p.set_best_fitness(std::strtod(best.c_str(), &end));
      if (!best.empty() && *end) return DataLoss(where(keys_.prompts, prefix + "best") + " is not a number");
      ASSIGN_OR_RETURN(const int64_t attempts, integer("attempts"));
      p.set_attempts(static_cast<uint32_t>(attempts));
      ASSIGN_OR_RETURN(*p.mutable_last_error(), get("error"));
      ASSIGN_OR_RETURN(const int64_t updated, integer("updated"));
      p.set_updated_unix_ms(updated);
    }
    return all;
  }

  static StatusOr<int64_t> number(const std::string& value, const std::string& where) {
    char* end = nullptr;
    const long long n = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end) return DataLoss(where + " is '" + value + "', not an integer");
    return static_cast<int64_t>(n);
  }

  RedisConnection redis_;
  const std::string name_;
  const RedisJobKeys keys_;
  const std::vector<std::string> key_list_;  // keys_.all(): what every script gets as KEYS
  const std::string request_key_prefix_;     // of the keys that keep answers by request id
  const std::string prelude_;                // script_prelude()
};

}  // namespace

std::vector<std::string> RedisJobKeys::all() const {
#define EVOSEARCH_REDIS_KEY_VALUE(name) name,
  return {EVOSEARCH_REDIS_JOB_KEYS(EVOSEARCH_REDIS_KEY_VALUE)};
#undef EVOSEARCH_REDIS_KEY_VALUE
}

RedisJobKeys redis_job_keys(const std::string& job_name) {
  RedisJobKeys keys;
#define EVOSEARCH_REDIS_KEY_NAME(name) keys.name = "evosearch:{" + job_name + "}:" #name;
  EVOSEARCH_REDIS_JOB_KEYS(EVOSEARCH_REDIS_KEY_NAME)
#undef EVOSEARCH_REDIS_KEY_NAME
  return keys;
}

StatusOr<std::unique_ptr<JobStore>> make_redis_job_store(const RedisUrl& url, const std::string& job_name,
                                                         StoreClock clock) {
  if (job_name.empty() || job_name.find_first_of("{}") != std::string::npos) {
    return InvalidArgument("job name '" + job_name + "' cannot name a Redis job: expected a non-empty name without '{' or '}'");
  }
  return std::unique_ptr<JobStore>(std::make_unique<RedisJobStore>(url, job_name, std::move(clock)));
}

}  // namespace evosearch
