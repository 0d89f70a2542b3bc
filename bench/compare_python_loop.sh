#!/usr/bin/env bash
# `evosearch run` at its default settings against a plain Python loop over the same TorchScript
# modules (bench/python_loop.py: one prompt at a time, each generation one batch), on the demo's
# job (examples/fashion-evosearch.json: its suite and schedule) for each bundle, side by side in
# one run. Per bundle, one after the other:
#   evosearch, first run - `evosearch run` as shipped, the first job on this machine with this
#                          bundle: the batch size measured (batch_size_policy auto, up to 32) and
#                          kept in an empty profile cache (EVOSEARCH_CACHE_DIR), freed memory retained;
#   evosearch            - as shipped, any later job: the batch size read from the profile the first
#                          run kept (no measurement);
#   evosearch, fixed 32  - the batch size pinned at the bound (batch_size_policy fixed): what the
#                          measurement buys;
#   evosearch, no retain - EVOSEARCH_RETAIN_MEMORY=0: glibc's allocator defaults, what keeping
#                          freed memory buys (batch size measured, no profile);
#   python loop          - bench/python_loop.py.
# Then the ceiling: the guided denoiser alone at its best batch size (bench_throughput --sweep-only,
# batches 1 to 32, same threads and steps), the fastest any loop over this model could denoise.
# The loop's NFE/s over that rate says how much room is left above the loop at all: no
# implementation can beat it by more than 1/that (decode and reward calls are not even counted).
# Search seconds: results.json wall_seconds plus the batch-size measurement (phases.calibration)
# for evosearch, the loop's own timer for Python (model loading excluded from both); process
# seconds and CPU seconds: the whole process, from bash's time. The ratio is python / evosearch
# (above 1: evosearch is faster). The load average is printed before and after: figures taken
# while other work runs (load above the core count) are not worth quoting.
#
#   bash bench/compare_python_loop.sh [--bundles fashion-flow,fashion-ddpm] [--threads N] [--prompts N]
#        [--repeat R] [--json OUT]
#
# With --repeat R, the five runs of a bundle are repeated R times, interleaved (all five, then all
# five again), and the table gives each run's median, with the range of the per-round ratios: on a
# shared machine one slow moment then moves one round, not one side of the comparison.
#
# T: the bundle's default steps, but 20 for fashion-ddpm (its default 50 makes the run long); the
# schedule S = 0,6,12,18, K = 12,6,6,6,6 is the demo's. BUILD (default build) holds the evosearch
# program; PY (default /usr/bin/python3) is a Python with torch (Debian: apt-get install python3-torch).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$root/build}
PY=${PY:-/usr/bin/python3}
bundles=fashion-flow,fashion-ddpm threads=$(nproc) prompts=0 json= repeat=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --bundles) bundles=$2 ;;
    --threads) threads=$2 ;;
    --prompts) prompts=$2 ;;
    --json) json=$2 ;;
    --repeat) repeat=$2 ;;
    *) echo "$0: unknown option $1 (see the comment at the top)" >&2; exit 2 ;;
  esac
  shift 2
done
[[ -x $BUILD/evosearch ]] || { echo "$0: $BUILD/evosearch is not built (ninja -C $BUILD evosearch)" >&2; exit 1; }
[[ -x $BUILD/bench/bench_throughput ]] ||
  { echo "$0: $BUILD/bench/bench_throughput is not built (ninja -C $BUILD bench_throughput)" >&2; exit 1; }
"$PY" -c 'import torch' 2>/dev/null || { echo "$0: $PY has no torch (apt-get install python3-torch)" >&2; exit 1; }

scratch=$(mktemp -d /tmp/evosearch-compare-python.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
demo=$root/examples/fashion-evosearch.json
# The demo's suite (its first N prompts with --prompts), as a .txt both sides read.
"$PY" - "$demo" "$prompts" > "$scratch/prompts.txt" <<'PY'
import json, os, sys
spec, n = json.load(open(sys.argv[1])), int(sys.argv[2])
path = os.path.join(os.path.dirname(sys.argv[1]), spec["prompts"])
texts = [line.strip() for line in open(path) if line.strip() and not line.strip().startswith("#")]
print("\n".join(texts[:n] if n > 0 else texts))
PY
read -r S K < <("$PY" -c 'import json,sys; s=json.load(open(sys.argv[1]))["search"]; print(",".join(map(str,s["evolution_steps"])), ",".join(map(str,s["population"])))' "$demo")
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "compare_python_loop: $(wc -l < "$scratch/prompts.txt") prompts of $demo, S $S, K $K, $threads threads, $(nproc) cores"
TIMEFORMAT='%3R %3U %3S'
rows=() ceilings=()

# One evosearch run: NAME BUNDLE STEPS POLICY [ENV...]; appends a row "name nfe search process cpu batch".
run_evosearch() {
  local name=$1 bundle=$2 steps=$3 policy=$4 tag
  shift 4
  tag=$(echo "$bundle-$name" | tr -c 'a-z0-9\n' '-')
  "$PY" - "$demo" "$root/models/$bundle" "$scratch/prompts.txt" "$scratch/$tag" "$steps" "$policy" \
      > "$scratch/$tag.json" <<'PY'
import json, sys
demo, bundle, prompts, out, steps, policy = sys.argv[1:]
spec = json.load(open(demo))
spec.update(name="compare-python-loop", bundle=bundle, prompts=prompts, output=out, generation_grids=False,
            batch_size_policy=policy)
if int(steps) > 0:
    spec["sampler"] = {"steps": int(steps)}
print(json.dumps(spec))
PY
  { time env "$@" "$BUILD/evosearch" run "$scratch/$tag.json" --restart --threads "$threads" --log-level info \
      > "$scratch/$tag.log" 2>&1; } 2> "$scratch/$tag.time" || { cat "$scratch/$tag.log" >&2; exit 1; }
  read -r nfe search batch source < <("$PY" -c '
import json, sys
t = json.load(open(sys.argv[1]))["totals"]
print(t["nfe"], t["wall_seconds"] + t.get("phases", {}).get("calibration", 0), t.get("batch_size", {}).get("chosen", 0),
      t.get("batch_size", {}).get("source", "-").replace(" ", "-"))' \
      "$scratch/$tag/results.json")
  local expected=measured
  [[ $name == evosearch ]] && expected=cached-profile
  [[ $policy == fixed ]] && expected=fixed
  [[ $source == "$expected" ]] ||
    { echo "$0: the '$name' run's batch size came from '$source', not '$expected' ($scratch/$tag.log)" >&2; exit 1; }
  read -r proc user sys < "$scratch/$tag.time"
  rows+=("$bundle|$name|$nfe|$search|$proc|$(awk "BEGIN {print $user + $sys}")|$batch|$round")
  last_nfe=$nfe
}

for bundle in ${bundles//,/ }; do
  steps=0
  [[ $bundle == fashion-ddpm ]] && steps=20
  echo "$bundle: load average before $(load)"
  for ((round = 1; round <= repeat; ++round)); do
    cache=$scratch/cache-$bundle-$round
    run_evosearch "evosearch, first run" "$bundle" $steps auto EVOSEARCH_CACHE_DIR="$cache"
    run_evosearch "evosearch" "$bundle" $steps auto EVOSEARCH_CACHE_DIR="$cache"
    run_evosearch "evosearch, fixed 32" "$bundle" $steps fixed EVOSEARCH_CACHE_DIR=off
    run_evosearch "evosearch, no retain" "$bundle" $steps auto EVOSEARCH_CACHE_DIR=off EVOSEARCH_RETAIN_MEMORY=0
    py_steps=()
    [[ $steps -gt 0 ]] && py_steps=(--steps "$steps")
    { time "$PY" "$root/bench/python_loop.py" "$root/models/$bundle" "$scratch/prompts.txt" "${py_steps[@]}" \
        --evolution-steps "$S" --population "$K" --threads "$threads" --expect-nfe "$last_nfe" \
        --json "$scratch/$bundle-python.json" > "$scratch/$bundle-python.log" 2>&1; } 2> "$scratch/$bundle-python.time" \
        || { cat "$scratch/$bundle-python.log" >&2; exit 1; }
    read -r proc user sys < "$scratch/$bundle-python.time"
    search=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["wall_seconds"])' "$scratch/$bundle-python.json")
    rows+=("$bundle|python loop|$last_nfe|$search|$proc|$(awk "BEGIN {print $user + $sys}")|-|$round")
  done
  ceiling_steps=$steps
  [[ $ceiling_steps -gt 0 ]] ||
    ceiling_steps=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["defaults"]["steps"])' \
      "$root/models/$bundle/manifest.json")
  "$BUILD/bench/bench_throughput" "$root/models/$bundle" --sweep-only --steps "$ceiling_steps" --threads "$threads" \
      --batches 1,2,4,8,12,16,24,32 --json "$scratch/$bundle-ceiling.json" > "$scratch/$bundle-ceiling.log" 2>&1 ||
    { cat "$scratch/$bundle-ceiling.log" >&2; exit 1; }
  ceilings+=("$bundle|$("$PY" -c 'import json,sys; j=json.load(open(sys.argv[1]))
print(j["best_sample_steps_per_second"], int(j["best_batch"]))' "$scratch/$bundle-ceiling.json" | tr ' ' '|')")
  echo "$bundle: load average after $(load)"
done

"$PY" - "$json" "${#ceilings[@]}" "${ceilings[@]}" "${rows[@]}" <<'PY'
import json, sys
from statistics import median
out, n_ceilings = sys.argv[1], int(sys.argv[2])
ceilings = {c[0]: (float(c[1]), int(c[2])) for c in (a.split("|") for a in sys.argv[3:3 + n_ceilings])}
rows = [r.split("|") for r in sys.argv[3 + n_ceilings:]]
runs = {}  # (bundle, name) -> the rounds' rows, in order
for r in rows:
    runs.setdefault((r[0], r[1]), []).append(r)
table = {}
print(f"{'bundle':<14} {'run':<22} {'NFE':>6} {'batch':>5} {'search s':>9} {'process s':>10} {'CPU s':>7} "
      f"{'python/this (search)':>21} {'(process)':>10} {'rounds: search ratio range':>27}")
for (bundle, name), rounds in runs.items():
    python = runs[(bundle, "python loop")]
    med = lambda rs, i: median(float(r[i]) for r in rs)
    search, proc, cpu = med(rounds, 3), med(rounds, 4), med(rounds, 5)
    ratio_search, ratio_proc = med(python, 3) / search, med(python, 4) / proc
    per_round = [float(p[3]) / float(r[3]) for p, r in zip(python, rounds)]
    spread = f"{min(per_round):.2f}x-{max(per_round):.2f}x" if len(per_round) > 1 else ""
    batches = sorted({r[6] for r in rounds})
    print(f"{bundle:<14} {name:<22} {int(rounds[0][2]):>6} {'/'.join(batches):>5} {search:>9.2f} {proc:>10.2f} "
          f"{cpu:>7.2f} {ratio_search:>20.2f}x {ratio_proc:>9.2f}x {spread:>27}")
    table.setdefault(bundle, {})[name] = {"nfe": int(rounds[0][2]), "rounds": len(rounds),
                                          "batch_sizes": [None if r[6] == "-" else int(r[6]) for r in rounds],
                                          "search_seconds": search, "process_seconds": proc,
                                          "process_cpu_seconds": cpu, "python_over_this_search": ratio_search,
                                          "python_over_this_process": ratio_proc,
                                          "python_over_this_search_per_round": per_round}
for bundle, (rate, batch) in ceilings.items():
    python = runs[(bundle, "python loop")]
    loop_rate = int(python[0][2]) / median(float(r[3]) for r in python)
    print(f"{bundle}: the denoiser alone, best {rate:.1f} guided NFE/s at batch {batch}; the python loop "
          f"{loop_rate:.1f} NFE/s = {loop_rate / rate:.2f} of it, so at most {rate / loop_rate:.2f}x the loop is possible")
    table[bundle]["ceiling"] = {"denoiser_best_nfe_per_second": rate, "best_batch": batch,
                                "python_loop_nfe_per_second": loop_rate, "python_loop_share": loop_rate / rate,
                                "at_most_over_python": rate / loop_rate}
if out:
    json.dump(table, open(out, "w"), indent=2)
PY
echo "load average at the end: $(load)"
