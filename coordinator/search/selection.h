// Selection and resampling as pure functions of fitness values and keyed randomness.
#pragma once

#include <cstddef>
#include <vector>

#include "common/keyed_rng.h"

namespace evosearch {

// Indices of the `count` largest values, best first; ties go to the lower index.
std::vector<size_t> top_indices(const std::vector<double>& fitness, size_t count);

// One tournament: draws max(1, round(fraction * n)) distinct entries with keyed uniforms and
// returns the index of the fittest (ties: the lower index).
size_t tournament(const std::vector<double>& fitness, double fraction, const NoiseKey& key);

// `count` indices drawn independently with probability proportional to exp(log_weights).
std::vector<size_t> multinomial_resample(const std::vector<double>& log_weights, size_t count, const NoiseKey& key);

// (sum w)^2 / sum w^2 for w = exp(log_weights), computed stably.
double effective_sample_size(const std::vector<double>& log_weights);

// exp(log_weights) normalised to sum 1, computed stably.
std::vector<double> normalized_weights(const std::vector<double>& log_weights);

}  // namespace evosearch
