#!/usr/bin/env bash
# `evosearch run` against the official EvoSearch code's execution strategy (bench/official_loop.py)
# over the same bundle, prompts, schedule and device, at equal NFE (checked), one after the other.
# Prints both runs and the speed-up of evosearch: search time (results.json wall_seconds against
# the loop's own timer, model loading excluded from both), whole-process time and process CPU time.
#
#   bash bench/compare_official.sh BUNDLE [--device cpu|cuda] [--prompts N] [--steps T] [--batch B]
#        [--threads N] [--suite FILE] [--json OUT]
#
# Schedule: the Wan one, S = 5,20,30,45 and K = 10,5,5,5,5 at T = 50, S scaled for a shorter T
# (T = 10: S = 1,4,6,9). BUILD (default build) holds the evosearch program; PY (default
# /usr/bin/python3) is a Python with torch that can load the bundle.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$root/build}
PY=${PY:-/usr/bin/python3}
device=cpu prompts=4 steps=50 batch=32 threads=$(nproc) suite=$root/examples/fashion-holdout.txt json=
[[ $# -ge 1 && $1 != -* ]] || { echo "usage: $0 BUNDLE [--device D] [--prompts N] [--steps T] [--batch B] [--threads N] [--suite FILE] [--json OUT]" >&2; exit 2; }
bundle=$(cd "$1" && pwd)
shift
while [[ $# -gt 0 ]]; do
  case $1 in
    --device) device=$2 ;;
    --prompts) prompts=$2 ;;
    --steps) steps=$2 ;;
    --batch) batch=$2 ;;
    --threads) threads=$2 ;;
    --suite) suite=$2 ;;
    --json) json=$2 ;;
    *) echo "$0: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
[[ -x $BUILD/evosearch ]] || { echo "$0: $BUILD/evosearch is not built (ninja -C $BUILD evosearch)" >&2; exit 1; }

scratch=$(mktemp -d /tmp/evosearch-compare-official.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
# The suite's first N prompts (a .txt, DrawBench-style .csv or VBench-style .json suite), repeated
# with a number when it has fewer, as a .txt suite both runs read.
"$PY" - "$suite" "$prompts" > "$scratch/prompts.txt" <<'PY'
import csv, json, sys
path, n = sys.argv[1], int(sys.argv[2])
if path.endswith(".json"):
    texts = [entry["prompt_en"] for entry in json.load(open(path))]
elif path.endswith(".csv"):
    texts = [row["Prompts"] for row in csv.DictReader(open(path))]
else:
    texts = [line.strip() for line in open(path) if line.strip() and not line.strip().startswith("#")]
for i in range(n):
    text = texts[i % len(texts)]
    print(text if i < len(texts) else f"{text} ({i // len(texts) + 1})")
PY
S=$(for s in 5 20 30 45; do echo $(((s * steps * 2 + 50) / 100)); done | paste -sd,)
K=10,5,5,5,5
cat > "$scratch/spec.json" <<JSON
{"name": "compare-official", "bundle": "$bundle", "prompts": "$scratch/prompts.txt", "output": "$scratch/evosearch",
 "seed": 1, "device": "$device", "sampler": {"steps": $steps},
 "search": {"method": "evosearch", "evolution_steps": [$S], "population": [$K]},
 "batch_size": $batch, "prompts_in_flight": 8}
JSON

echo "compare_official: $bundle, $prompts prompts, T $steps, S $S, K $K, device $device, $threads threads," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
# Each process's wall, user and system seconds (bash's time): on a CPU shared with other work the
# CPU seconds say more than the wall time.
TIMEFORMAT='%3R %3U %3S'
{ time "$BUILD/evosearch" run "$scratch/spec.json" --restart --threads "$threads" --log-level warn \
    > "$scratch/evosearch.log" 2>&1; } 2> "$scratch/evosearch.time" || { cat "$scratch/evosearch.log" >&2; exit 1; }
read -r nfe wall model < <("$PY" -c 'import json,sys; t=json.load(open(sys.argv[1]))["totals"]; print(t["nfe"], t["wall_seconds"], t["model_seconds"])' "$scratch/evosearch/results.json")

{ time "$PY" "$root/bench/official_loop.py" "$bundle" "$scratch/prompts.txt" --steps "$steps" --evolution-steps "$S" \
    --population "$K" --device "$device" --threads "$threads" --expect-nfe "$nfe" --json "$scratch/official.json" \
    > "$scratch/official.log" 2>&1; } 2> "$scratch/official.time" || { cat "$scratch/official.log" >&2; exit 1; }

"$PY" - "$scratch/official.json" "$nfe" "$wall" "$model" "$scratch/evosearch.time" "$scratch/official.time" "$json" <<'PY'
import json, sys
official = json.load(open(sys.argv[1]))
nfe, wall, model = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
(ev_proc, ev_user, ev_sys), (off_proc, off_user, off_sys) = (map(float, open(f).read().split()) for f in sys.argv[5:7])
ev_cpu, off_cpu, out = ev_user + ev_sys, off_user + off_sys, sys.argv[7]
fmt = lambda v: "-" if v is None else f"{v:.2f}"
print(f"{'run':<46} {'NFE':>6} {'search s':>9} {'model s':>8} {'process s':>10} {'CPU s':>8}")
print(f"{'evosearch run (batched, prompts interleaved)':<46} {nfe:>6} {wall:>9.2f} {model:>8.2f} {ev_proc:>10.2f} "
      f"{ev_cpu:>8.2f}")
print(f"{'official loop (' + official['strategy'].split(':')[0] + ')':<46} {official['nfe']:>6} "
      f"{official['wall_seconds']:>9.2f} {fmt(official['model_seconds']):>8} {off_proc:>10.2f} {off_cpu:>8.2f}")
print(f"  official strategy: {official['strategy']}")
print(f"speed-up of evosearch run over the official loop at equal NFE: {official['wall_seconds'] / wall:.2f}x search time, "
      f"{off_proc / ev_proc:.2f}x whole process, {off_cpu / ev_cpu:.2f}x process CPU time")
if out:
    json.dump({"nfe": nfe,
               "evosearch": {"wall_seconds": wall, "model_seconds": model, "process_seconds": ev_proc,
                             "process_cpu_seconds": ev_cpu},
               "official": dict(official, process_seconds=off_proc, process_cpu_seconds=off_cpu),
               "speedup_search": official["wall_seconds"] / wall, "speedup_process": off_proc / ev_proc,
               "speedup_process_cpu": off_cpu / ev_cpu},
              open(out, "w"), indent=2)
PY
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
