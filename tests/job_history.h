// A history checker for a job shared through the Redis store. It replays what the server ran, in
// the order it ran it (tests/redis_monitor.h: each script call with its arguments, then the
// writes the script made), and checks that
//   - the history starts before the job was created;
//   - each claim takes a queued prompt, or a running one whose lease had expired by the server's
//     clock (never one that is done or failed);
//   - every write to a prompt's lease, checkpoint or outcome (renewal, commit, release, outcome,
//     failure) came from a call made under the prompt's latest claim: no coordinator wrote after
//     its lease was taken;
//   - a prompt's committed generations only go up;
//   - every prompt ends with exactly one outcome, in the history and in the store, whose token
//     and owner are the latest claim's, with no checkpoint left behind.
// The store's scripts are recognised by their writes (jobs/redis_scripts.h): a claim sets
// "<i>:state" to running with "<i>:owner"; a fenced call's arguments start with prompt, owner,
// token.
#pragma once

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "evosearch/job_records.pb.h"
#include "jobs/job_store.h"
#include "jobs/redis_job_store.h"
#include "redis_monitor.h"

namespace evosearch::testing_support {

struct JobHistory {
  std::vector<std::string> problems;    // each broken rule, with the line that broke it
  int claims = 0;
  int takeovers = 0;                    // claims of a running prompt whose lease had expired
  std::set<std::string> taken_from;     // owners a takeover took a prompt from
  std::map<std::string, int> stale_calls;  // owner -> fenced calls the server ran after its lease was taken
};

namespace history_detail {

inline bool digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "<i>:<attribute>" -> (i, attribute); false for another field.
inline bool split_field(const std::string& field, uint32_t& prompt, std::string& attribute) {
  const size_t colon = field.find(':');
  if (colon == std::string::npos || !digits(field.substr(0, colon))) return false;
  prompt = static_cast<uint32_t>(std::stoul(field.substr(0, colon)));
  attribute = field.substr(colon + 1);
  return true;
}

}  // namespace history_detail

// `lines`: what RedisMonitor recorded over the whole job; `store`: the job's store (for the
// records at the end; nullptr to check the history alone).
inline JobHistory check_job_history(const std::vector<std::string>& lines, const std::string& job_name, JobStore* store) {
  using history_detail::digits;
  JobHistory h;
  const RedisJobKeys keys = redis_job_keys(job_name);
  const std::string running = std::to_string(proto::PROMPT_RUNNING), done = std::to_string(proto::PROMPT_DONE);
  enum class State { kQueued, kRunning, kDone, kFailed };
  struct Prompt {
    bool created = false;
    State state = State::kQueued;
    std::string owner;
    uint64_t token = 0;
    double expires_ms = 0;  // server clock
    uint32_t generation = 0;
    int claims = 0, outcomes = 0;
  };
  std::map<uint32_t, Prompt> prompts;
  // The script call the "lua" lines belong to: its arguments after the keys.
  std::vector<std::string> call;
  std::string call_line;
  bool call_is_this_job = false;
  auto fail = [&](const std::string& what, const std::string& line) {
    h.problems.push_back(what + "\n      in: " + call_line + " ...\n      at: " + line.substr(0, 200));
  };
  // A write to prompt i inside the current call: the call must be fenced on i under the latest claim.
  auto fenced_write = [&](uint32_t i, const std::string& what, const std::string& line) {
    const Prompt& p = prompts[i];
    const bool under_latest = call.size() >= 3 && call[0] == std::to_string(i) && call[1] == p.owner &&
                              call[2] == std::to_string(p.token) && p.state == State::kRunning;
    if (!under_latest) {
      fail(what + " of prompt " + std::to_string(i) + " not under its latest claim (" + p.owner + " token " +
               std::to_string(p.token) + ")",
           line);
    }
  };
  MonitorLine m;
  for (const std::string& line : lines) {
    if (!parse_monitor_line(line, m) || m.args.empty()) continue;
    std::string command = m.args[0];
    std::transform(command.begin(), command.end(), command.begin(), ::toupper);
    if (m.client != "lua") {
      call.clear();
      call_line = line.substr(0, line.find(']') + 1) + " " + command;
      call_is_this_job = false;
      if ((command == "EVAL" || command == "EVALSHA") && m.args.size() >= 3 && digits(m.args[2])) {
        const size_t key_count = std::stoul(m.args[2]);
        if (3 + key_count > m.args.size()) continue;
        call_is_this_job = std::find(m.args.begin() + 3, m.args.begin() + 3 + static_cast<long>(key_count), keys.prompts) !=
                           m.args.begin() + 3 + static_cast<long>(key_count);
        call.assign(m.args.begin() + 3 + static_cast<long>(key_count), m.args.end());
        for (size_t n = 0; n < call.size() && n < 3; ++n) call_line += " \"" + call[n].substr(0, 80) + "\"";
        // A fenced call on a prompt whose lease is no longer the caller's (it may write nothing).
        if (call_is_this_job && call.size() >= 3 && digits(call[0]) && digits(call[2]) && call[1].find(':') != std::string::npos) {
          const auto it = prompts.find(static_cast<uint32_t>(std::stoul(call[0])));
          if (it != prompts.end() && (call[1] != it->second.owner || call[2] != std::to_string(it->second.token))) {
            ++h.stale_calls[call[1]];
          }
        }
      }
      continue;
    }
    if (!call_is_this_job || m.args.size() < 3) continue;
    const double now_ms = m.seconds * 1000;
    const std::string& key = m.args[1];
    if (command == "HSET" && key == keys.prompts) {
      std::map<uint32_t, std::map<std::string, std::string>> fields;
      for (size_t n = 2; n + 1 < m.args.size(); n += 2) {
        uint32_t i = 0;
        std::string attribute;
        if (history_detail::split_field(m.args[n], i, attribute)) fields[i][attribute] = m.args[n + 1];
      }
      for (auto& [i, f] : fields) {
        Prompt& p = prompts[i];
        if (f.count("text")) {  // the job created (or restarted): every prompt queued, no token yet
          p = Prompt{};
          p.created = true;
          continue;
        }
        if (!p.created) fail("prompt " + std::to_string(i) + " written before the job was created (the history is incomplete)", line);
        if (f.count("state") && f["state"] == running && f.count("owner")) {  // a claim
          ++h.claims;
          if (p.state == State::kDone || p.state == State::kFailed) fail("a claim of an ended prompt", line);
          if (p.state == State::kRunning) {
            if (p.expires_ms > now_ms + 1) fail("a claim before the holder's lease expired", line);
            ++h.takeovers;
            h.taken_from.insert(p.owner);
          }
          p.state = State::kRunning;
          p.owner = f["owner"];
          ++p.token;
          ++p.claims;
          if (f.count("expires")) p.expires_ms = std::stod(f["expires"]);
          continue;
        }
        if (f.count("state")) {  // the end of a lease: released, done or failed
          fenced_write(i, "the end of a lease", line);
          p.state = f["state"] == done ? State::kDone : f["state"] == running ? State::kRunning
                    : f["state"] == std::to_string(proto::PROMPT_FAILED) ? State::kFailed : State::kQueued;
          continue;
        }
        if (f.count("generation")) {
          fenced_write(i, "a checkpoint", line);
          const uint32_t generation = static_cast<uint32_t>(std::stoul(f["generation"]));
          if (generation <= p.generation) fail("a checkpoint that goes back from generation " + std::to_string(p.generation), line);
          p.generation = generation;
          continue;
        }
        if (f.count("expires")) {
          fenced_write(i, "a renewal", line);
          p.expires_ms = std::stod(f["expires"]);
        }
      }
    } else if ((command == "HSET" || command == "HDEL") && (key == keys.checkpoints || key == keys.outcomes) &&
               digits(m.args[2])) {
      const uint32_t i = static_cast<uint32_t>(std::stoul(m.args[2]));
      const bool outcome = command == "HSET" && key == keys.outcomes;
      fenced_write(i, outcome ? "an outcome" : command == "HSET" ? "a checkpoint record" : "a checkpoint's removal", line);
      if (outcome) ++prompts[i].outcomes;
    }
  }
  if (h.claims == 0) h.problems.push_back("no claim in the history");
  if (!store) return h;

  auto records = store->prompts();
  if (!records.ok()) {
    h.problems.push_back("cannot read the prompt records: " + records.status().to_string());
    return h;
  }
  if (records->empty()) h.problems.push_back("the job has no prompts");
  for (const proto::PromptRecord& r : *records) {
    const Prompt& p = prompts[r.prompt()];
    const std::string name = "prompt " + std::to_string(r.prompt());
    if (!p.created) h.problems.push_back(name + ": its creation is not in the history");
    if (p.outcomes != 1) h.problems.push_back(name + ": " + std::to_string(p.outcomes) + " outcomes written");
    if (r.status() != proto::PROMPT_DONE || p.state != State::kDone) h.problems.push_back(name + ": not done");
    if (r.owner() != p.owner || r.token() != p.token || static_cast<int>(r.attempts()) != p.claims) {
      h.problems.push_back(name + ": the record says " + r.owner() + " token " + std::to_string(r.token()) + ", " +
                           std::to_string(r.attempts()) + " attempts; the history " + p.owner + " token " +
                           std::to_string(p.token) + ", " + std::to_string(p.claims) + " claims");
    }
    auto outcome = store->load_outcome(r.prompt());
    if (!outcome.ok() || !*outcome) {
      h.problems.push_back(name + ": no stored outcome");
    } else if ((*outcome)->token() != p.token) {
      h.problems.push_back(name + ": the outcome was written under token " + std::to_string((*outcome)->token()) +
                           ", the latest claim's is " + std::to_string(p.token));
    }
    auto checkpoint = store->load_checkpoint(r.prompt());
    if (!checkpoint.ok() || *checkpoint) h.problems.push_back(name + ": a checkpoint is left after its outcome");
  }
  if (prompts.size() > records->size()) h.problems.push_back("the history names prompts the job does not have");
  return h;
}

}  // namespace evosearch::testing_support
