// evosearch-lookahead: EvoSearch whose generations are chosen by a look-ahead estimate of the
// final reward, as a pure state machine. Every evolution generation g = 0..n runs as two
// searcher generations (phases):
//
//   screen (phase 2g):  m_g children start at e'_g = s_g (0 for g = 0): keyed noises for g = 0;
//                       later the top `elites` of the pool unmutated and tournament winners
//                       mutated as in EvoSearch (Eq. 7 at step 0, Eq. 8 later). Each takes L_g
//                       denoising steps and is scored on the model's one-step x0 prediction at
//                       e_g = s_g + L_g (SCORE_X0_PREDICTION).
//   roll out (2g + 1):  the k_g best screened children (by that score; ties: lower candidate)
//                       continue unmutated from their state at e_g to T, archiving their states
//                       at later evolution steps; they are scored on the final sample.
//
// The pool of generation g is every rolled-out child of earlier generations, at s_g, with its
// final fitness (every continuation passes through s_g, since s_g >= e_{g-1}). The answer is the
// best final sample. Cost, as the torch backend counts it: a screened child L_g + 1 NFE (the x0
// prediction is one model call), a continuation T - e_g - 1 (it reuses that prediction for its
// first step), each one decoder and one reward call: a continued child costs the NFE of an
// EvoSearch child, and screening adds (m_g - k_g)(L_g + 1) NFE and 2 m_g scoring calls.
#pragma once

#include <vector>

#include "coordinator/search/evo_searcher.h"

namespace evosearch {

struct LookaheadConfig {
  EvoSearchConfig evo;               // S, K (children rolled out to T), elites, tournament_fraction, beta
  std::vector<int> screened;         // m_g >= k_g: children screened per generation, one per K entry
  std::vector<int> lookahead_steps;  // L_g >= 0: steps a screened child takes before it is scored
};

// Names the field and says why when the schedule is invalid: besides EvoSearch's rules,
// s_g + L_g < T and s_g + L_g <= s_{g+1}.
Status validate(const LookaheadConfig& config);

// The default look-ahead: T/5 (at least 1) for generations starting at step 0, else 0.
std::vector<int> default_lookahead_steps(const EvoSearchConfig& evo);

class LookaheadSearcher final : public Searcher {
 public:
  LookaheadSearcher(LookaheadConfig config, SearchKey key);  // config must be valid

  std::string method() const override { return "evosearch-lookahead"; }
  // Screening generations: the even phases.
  proto::MethodDescription describe() const override;
  std::vector<proto::RolloutTask> next_generation() override;
  Status on_results(const std::vector<proto::RolloutResult>& results) override;
  bool done() const override { return phase_ >= generation_count(); }
  uint32_t generation() const override { return phase_; }
  uint32_t generation_count() const override { return 2 * static_cast<uint32_t>(config_.evo.population.size()); }
  std::vector<proto::StateRef> live_states() const override;
  const proto::BestSample& best() const override { return best_; }
  const proto::Accounting& accounting() const override { return accounting_; }
  proto::SearcherSnapshot snapshot() const override;
  Status restore(const proto::SearcherSnapshot& snapshot) override;

  // Rolled-out children so far, each with its final fitness (the pool of later generations).
  const std::vector<proto::ArchiveEntry>& archive() const { return archive_; }
  // The screened children of the current evolution generation, with their look-ahead fitness.
  const std::vector<proto::ArchiveEntry>& screened() const { return screened_; }

 private:
  int start_step(size_t g) const { return g == 0 ? 0 : config_.evo.evolution_steps[g - 1]; }
  int screen_end(size_t g) const { return start_step(g) + config_.lookahead_steps[g]; }
  std::vector<proto::RolloutTask> screen_tasks(size_t g) const;
  std::vector<proto::RolloutTask> rollout_tasks(size_t g) const;

  LookaheadConfig config_;
  SearchKey key_;
  uint32_t phase_ = 0;
  std::vector<proto::ArchiveEntry> archive_;
  std::vector<proto::ArchiveEntry> screened_;
  std::vector<proto::RolloutTask> pending_;
  proto::BestSample best_;
  proto::Accounting accounting_;
};

}  // namespace evosearch
