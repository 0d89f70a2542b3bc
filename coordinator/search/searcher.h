// A search method as a pure state machine: it emits a generation of rollout tasks, consumes
// their results, and can snapshot and restore itself. It never sees tensors, files, MPI or
// Redis: only state references, fitness values and keyed randomness. So it is testable with
// a fake executor, its checkpoints are small, and its decisions do not depend on how many
// workers ran the rollouts.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/keyed_rng.h"
#include "common/state_key.h"
#include "common/status.h"
#include "evosearch/search.pb.h"

namespace evosearch {

// Whose search this is: keys every random draw the searcher makes.
struct SearchKey {
  uint64_t seed = 0;
  uint64_t prompt = 0;
};

class Searcher {
 public:
  virtual ~Searcher() = default;

  virtual std::string method() const = 0;
  // The method for people: its title, its settings as run and which generations screen (are
  // scored on the x0 prediction). The job writes it into results.json for the report page.
  virtual proto::MethodDescription describe() const = 0;
  // The tasks of the next generation. Call once per generation, then on_results().
  virtual std::vector<proto::RolloutTask> next_generation() = 0;
  // Every result of the generation just emitted, in any order.
  virtual Status on_results(const std::vector<proto::RolloutResult>& results) = 0;
  virtual bool done() const = 0;
  // The generation next_generation() will emit (0-based), and how many there are in all.
  virtual uint32_t generation() const = 0;
  virtual uint32_t generation_count() const = 0;
  // Kept states that later generations (or the answer) still need; the rest may be freed.
  virtual std::vector<proto::StateRef> live_states() const = 0;
  virtual const proto::BestSample& best() const = 0;
  virtual const proto::Accounting& accounting() const = 0;

  virtual proto::SearcherSnapshot snapshot() const = 0;
  virtual Status restore(const proto::SearcherSnapshot& snapshot) = 0;
};

// describe()'s pieces: a setting appended to `description`, lists as "8, 4, 4", numbers as %g.
void add_setting(proto::MethodDescription& description, const std::string& label, const std::string& value,
                 const std::string& doc);
std::string list_text(const std::vector<int>& values);
std::string number_text(double value);

// Adds a result's counts to `accounting`.
void account(proto::Accounting& accounting, const proto::RolloutResult& result);

// Replaces `best` when `result` is fitter (ties keep the earlier one). `final_step` is T.
void consider_best(proto::BestSample& best, const proto::RolloutResult& result, int final_step);

// Checks that `results` answer exactly `tasks` (same (generation, candidate) pairs) and returns
// them in candidate order: results arrive in whatever order workers finish, and a searcher's
// decisions (archive order, ties) must not depend on that.
StatusOr<std::vector<proto::RolloutResult>> match_results(const std::vector<proto::RolloutTask>& tasks,
                                                          const std::vector<proto::RolloutResult>& results);

}  // namespace evosearch
