// results.json in the layout the official EvoSearch code writes (tinnerhrhe/EvoSearch-codes,
// SD2.1/utils.py `do_eval`, dumped by SD2.1/evosearch.py), for drop-in comparison with its
// evaluation scripts.
#pragma once

#include <string>

#include "common/status.h"
#include "evosearch/job.pb.h"

namespace evosearch {

// {"<metric>": {"result": [per prompt, in prompt order], "mean": m, "std": s, "max": a, "min": b}, ...}
// written as Python's json.dump writes it (", " and ": " separators, non-ASCII as \uXXXX,
// floats as Python's repr: 0.1, 1.0, 1e-05). Metrics in name order. std is torch's
// Tensor.std(): the unbiased (n - 1) estimate, NaN for one prompt, written NaN as Python does;
// proto::MetricStats' std divides by n. Prompts are ordered by index. The official code
// averages float32 tensors; these are doubles. InvalidArgument when a prompt lacks a score
// of a metric another prompt has (the official layout has no gaps).
StatusOr<std::string> official_results_json(const proto::JobResults& results);

// official_results_json written atomically to `path`. The official code reads and writes
// <image folder>/results.json; our own results.json lives in the output folder, so give this
// one another folder or name.
Status write_official_results(const proto::JobResults& results, const std::string& path);

}  // namespace evosearch
