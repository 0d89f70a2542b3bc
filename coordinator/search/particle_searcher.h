// Particle sampling / FK steering (Singhal et al. 2025): k particles run the stochastic
// sampler; at each resampling step the one-step x0 prediction is scored, weighted by a
// potential, and the particles are resampled multinomially (optionally only when the
// effective sample size drops below k/2). After the last step the potentials applied so far
// are divided out of the final weights. The answer is the best final particle.
#pragma once

#include <vector>

#include "coordinator/search/searcher.h"

namespace evosearch {

enum class Potential {
  kMax,   // exp(lambda * max reward along the particle's history)
  kDiff,  // exp(lambda * (r_t - r_previous))
  kAdd,   // exp(lambda * sum of rewards along the history)
  kRt,    // exp(lambda * r_t)
};

struct ParticleConfig {
  int steps = 50;          // T
  int particles = 4;       // k
  double lambda = 10.0;
  int interval = 5;        // resample every `interval` steps ...
  int window_start = 0;    // ... counted from here ...
  int window_end = -1;     // ... up to this step (-1 = T); never at T itself
  Potential potential = Potential::kMax;
  bool adaptive = false;   // resample only when ESS < k/2
};

Status validate(const ParticleConfig& config);
const char* potential_name(Potential p);
StatusOr<Potential> parse_potential(const std::string& name);

// [0, b_1, ..., b_r, T]: the steps where generations start and end.
std::vector<int> particle_boundaries(const ParticleConfig& config);

class ParticleSearcher final : public Searcher {
 public:
  ParticleSearcher(ParticleConfig config, SearchKey key);  // config must be valid

  std::string method() const override { return "particles"; }
  // Screening generations: every segment before the last (scored on the x0 prediction).
  proto::MethodDescription describe() const override;
  std::vector<proto::RolloutTask> next_generation() override;
  Status on_results(const std::vector<proto::RolloutResult>& results) override;
  bool done() const override { return generation_ + 1 >= boundaries_.size(); }
  uint32_t generation() const override { return generation_; }
  uint32_t generation_count() const override { return static_cast<uint32_t>(boundaries_.size() - 1); }
  std::vector<proto::StateRef> live_states() const override;
  const proto::BestSample& best() const override { return best_; }
  const proto::Accounting& accounting() const override { return accounting_; }
  proto::SearcherSnapshot snapshot() const override;
  Status restore(const proto::SearcherSnapshot& snapshot) override;

  const std::vector<proto::Particle>& particles() const { return particles_; }
  // Normalised final weights (potentials divided out), after the last generation.
  const std::vector<double>& final_weights() const { return final_weights_; }
  // How many resampling steps actually resampled (fewer with adaptive resampling).
  int resample_count() const { return resamples_; }

 private:
  double log_potential(const proto::Particle& p) const;

  ParticleConfig config_;
  SearchKey key_;
  std::vector<int> boundaries_;
  uint32_t generation_ = 0;
  std::vector<proto::Particle> particles_;
  std::vector<proto::RolloutTask> pending_;
  std::vector<double> final_weights_;
  int resamples_ = 0;
  proto::BestSample best_;
  proto::Accounting accounting_;
};

}  // namespace evosearch
