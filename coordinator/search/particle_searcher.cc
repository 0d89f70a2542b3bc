#include "coordinator/search/particle_searcher.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "coordinator/search/selection.h"

namespace evosearch {

const char* potential_name(Potential p) {
  switch (p) {
    case Potential::kMax: return "max";
    case Potential::kDiff: return "diff";
    case Potential::kAdd: return "add";
    case Potential::kRt: return "rt";
  }
  return "?";
}

StatusOr<Potential> parse_potential(const std::string& name) {
  for (Potential p : {Potential::kMax, Potential::kDiff, Potential::kAdd, Potential::kRt}) {
    if (name == potential_name(p)) return p;
  }
  return InvalidArgument("potential: unknown '" + name + "'; expected max, diff, add or rt");
}

Status validate(const ParticleConfig& c) {
  if (c.steps < 1) return InvalidArgument("steps: expected at least 1");
  if (c.particles < 1) return InvalidArgument("particles: expected at least 1");
  if (c.interval < 1) return InvalidArgument("resample_interval: expected at least 1");
  if (c.window_start < 0 || c.window_start >= c.steps) {
    return InvalidArgument("resample_window: start must be in 0.." + std::to_string(c.steps - 1));
  }
  if (c.window_end != -1 && (c.window_end <= c.window_start || c.window_end > c.steps)) {
    return InvalidArgument("resample_window: end must be after the start and at most " + std::to_string(c.steps));
  }
  if (!(c.lambda >= 0)) return InvalidArgument("lambda: expected 0 or more");
  return Status::Ok();
}

std::vector<int> particle_boundaries(const ParticleConfig& c) {
  const int end = c.window_end < 0 ? c.steps : c.window_end;
  std::vector<int> b{0};
  for (int s = c.window_start + c.interval; s <= end && s < c.steps; s += c.interval) b.push_back(s);
  b.push_back(c.steps);
  return b;
}

ParticleSearcher::ParticleSearcher(ParticleConfig config, SearchKey key)
    : config_(config), key_(key), boundaries_(particle_boundaries(config)) {}

proto::MethodDescription ParticleSearcher::describe() const {
  proto::MethodDescription d;
  d.set_method(method());
  d.set_title("Particle sampling");
  const ParticleConfig& c = config_;
  add_setting(d, "Particles", std::to_string(c.particles), "k: samples run together and resampled by their potentials");
  add_setting(d, "Lambda", number_text(c.lambda), "potential strength: higher follows the reward more greedily");
  add_setting(d, "Potential", potential_name(c.potential),
              "what weighs a particle: max (best reward so far), diff (latest change), add (sum) or rt (latest)");
  add_setting(d, "Resample interval", std::to_string(c.interval), "steps between resampling steps");
  add_setting(d, "Resample window",
              std::to_string(c.window_start) + " to " + std::to_string(c.window_end < 0 ? c.steps : c.window_end),
              "the sampler steps within which particles are resampled");
  add_setting(d, "Adaptive resampling", c.adaptive ? "yes (when ESS < k/2)" : "no",
              "resample only when the effective sample size drops below k/2");
  for (uint32_t g = 0; g + 1 < generation_count(); ++g) d.add_screening_generations(g);
  return d;
}

std::vector<proto::RolloutTask> ParticleSearcher::next_generation() {
  pending_.clear();
  if (done()) return pending_;
  const uint32_t g = generation_;
  const int start = boundaries_[g], end = boundaries_[g + 1];
  for (int c = 0; c < config_.particles; ++c) {
    proto::RolloutTask t;
    t.set_generation(g);
    t.set_candidate(c);
    t.set_start_step(start);
    t.set_end_step(end);
    t.add_keep_steps(end);
    t.set_score(end == config_.steps ? proto::SCORE_FINAL : proto::SCORE_X0_PREDICTION);
    if (g > 0) *t.mutable_parent() = particles_[c].state();
    pending_.push_back(std::move(t));
  }
  return pending_;
}

double ParticleSearcher::log_potential(const proto::Particle& p) const {
  switch (config_.potential) {
    case Potential::kMax: return config_.lambda * p.max_reward();
    case Potential::kDiff: return config_.lambda * (p.reward() - p.previous_reward());
    case Potential::kAdd: return config_.lambda * p.sum_reward();
    case Potential::kRt: return config_.lambda * p.reward();
  }
  return 0;
}

Status ParticleSearcher::on_results(const std::vector<proto::RolloutResult>& results) {
  ASSIGN_OR_RETURN(const std::vector<proto::RolloutResult> ordered, match_results(pending_, results));
  const uint32_t g = generation_;
  const int end = boundaries_[g + 1];
  if (g == 0) particles_.assign(config_.particles, proto::Particle());
  for (const proto::RolloutResult& r : ordered) {
    account(accounting_, r);
    proto::Particle& p = particles_[r.candidate()];
    *p.mutable_state() = state_ref(g, r.candidate(), end);
    p.set_previous_reward(g == 0 ? 0.0 : p.reward());
    p.set_reward(r.fitness());
    p.set_max_reward(g == 0 ? r.fitness() : std::max(p.max_reward(), r.fitness()));
    p.set_sum_reward(p.sum_reward() + r.fitness());
    if (end == config_.steps) consider_best(best_, r, config_.steps);
  }
  pending_.clear();
  ++generation_;
  if (end == config_.steps) {
    // Final weights: exp(lambda * r_final) with the potentials applied so far divided out.
    std::vector<double> log_w;
    for (const auto& p : particles_) log_w.push_back(config_.lambda * p.reward() - p.log_potential());
    final_weights_ = normalized_weights(log_w);
    return Status::Ok();
  }
  std::vector<double> log_w;
  for (const auto& p : particles_) log_w.push_back(log_potential(p));
  if (config_.adaptive && effective_sample_size(log_w) >= config_.particles / 2.0) return Status::Ok();
  const std::vector<size_t> parents =
      multinomial_resample(log_w, particles_.size(), NoiseKey{key_.seed, key_.prompt, g, 0, 0, kSelectionDraw});
  std::vector<proto::Particle> next;
  for (size_t parent : parents) {
    next.push_back(particles_[parent]);
    next.back().set_log_potential(particles_[parent].log_potential() + log_w[parent]);
  }
  particles_.swap(next);
  ++resamples_;
  return Status::Ok();
}

std::vector<proto::StateRef> ParticleSearcher::live_states() const {
  std::vector<proto::StateRef> live;
  if (!done()) {
    for (const auto& p : particles_) live.push_back(p.state());
  }
  if (best_.found()) live.push_back(best_.state());
  return live;
}

proto::SearcherSnapshot ParticleSearcher::snapshot() const {
  proto::SearcherSnapshot s;
  s.set_method(method());
  s.set_generation(generation_);
  *s.mutable_accounting() = accounting_;
  *s.mutable_best() = best_;
  for (const auto& p : particles_) *s.add_particles() = p;
  for (double w : final_weights_) s.add_final_weights(w);
  s.set_resamples(resamples_);
  return s;
}

Status ParticleSearcher::restore(const proto::SearcherSnapshot& s) {
  if (s.method() != method()) return InvalidArgument("snapshot is for method '" + s.method() + "', not particles");
  if (s.generation() >= boundaries_.size()) return DataLoss("snapshot generation is out of range");
  generation_ = s.generation();
  accounting_ = s.accounting();
  best_ = s.best();
  particles_.assign(s.particles().begin(), s.particles().end());
  final_weights_.assign(s.final_weights().begin(), s.final_weights().end());
  resamples_ = s.resamples();
  pending_.clear();
  return Status::Ok();
}

}  // namespace evosearch
