// EvoSearch (arXiv 2505.17618) as a pure state machine; the algorithm and its formulas are in README.md.
//
// Generation 0 rolls out k_init noises from step 0. Generation g = 1..n works at step s_g:
// its pool is every archived state at s_g from every earlier rollout, each carrying its
// rollout's fitness; the top `elites` are copied unmutated, the other k_g - elites places are
// filled by independent tournaments (each draws `tournament_fraction` of the pool without
// replacement and takes its best) and mutated (Eq. 7 at step 0, Eq. 8 later); all k_g
// children are rolled out from s_g to the end, archiving their states at later schedule
// steps. The answer is the best final sample of any rollout.
#pragma once

#include <vector>

#include "coordinator/search/searcher.h"

namespace evosearch {

struct EvoSearchConfig {
  int steps = 50;                    // T, the sampler's step count
  std::vector<int> evolution_steps;  // S = [s_1 < ... < s_n], in [0, T)
  std::vector<int> population;       // K = [k_init, k_1, ..., k_n], one longer than S
  int elites = 1;                    // m, copied unmutated into every generation
  double tournament_fraction = 0.9;  // share of the pool each tournament draws
  double beta = 0.3;                 // Eq. 7 mutation strength at step 0 (paper: 0.3)
};

// Names the field and says why when the schedule is invalid.
Status validate(const EvoSearchConfig& config);

// NFE = k_init*T + sum_g k_g*(T - s_g).
int64_t evosearch_nfe(const EvoSearchConfig& config);

// EvoSearch's settings (S, K, elites, tournament fraction, beta) appended to `description`;
// `population_doc` says what K counts, which differs between the methods built on it.
void describe_evolution(const EvoSearchConfig& config, const std::string& population_doc,
                        proto::MethodDescription& description);

class EvoSearcher final : public Searcher {
 public:
  EvoSearcher(EvoSearchConfig config, SearchKey key);  // config must be valid

  std::string method() const override { return "evosearch"; }
  proto::MethodDescription describe() const override;
  std::vector<proto::RolloutTask> next_generation() override;
  Status on_results(const std::vector<proto::RolloutResult>& results) override;
  bool done() const override { return generation_ > config_.evolution_steps.size(); }
  uint32_t generation() const override { return generation_; }
  uint32_t generation_count() const override { return static_cast<uint32_t>(config_.population.size()); }
  std::vector<proto::StateRef> live_states() const override;
  const proto::BestSample& best() const override { return best_; }
  const proto::Accounting& accounting() const override { return accounting_; }
  proto::SearcherSnapshot snapshot() const override;
  Status restore(const proto::SearcherSnapshot& snapshot) override;

  // The pool generation g (1..n) selects from: archive entries that passed through s_g.
  std::vector<proto::ArchiveEntry> pool(uint32_t g) const;

 private:
  std::vector<int> keep_steps(uint32_t g) const;

  EvoSearchConfig config_;
  SearchKey key_;
  uint32_t generation_ = 0;
  std::vector<proto::ArchiveEntry> archive_;
  std::vector<proto::RolloutTask> pending_;
  proto::BestSample best_;
  proto::Accounting accounting_;
};

}  // namespace evosearch
