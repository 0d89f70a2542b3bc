#!/usr/bin/env bash
# Builds against the torch Python package's LibTorch with CUDA and NCCL required, runs the unit,
# gpu and mpi tests, samples the bundled models on the GPU, and runs the distributed job on the
# GPU three ways (embedded; 2 workers sharing the GPU over the MPI data plane; 1 worker on the
# NCCL data plane), checking they give the same answers. For GPU machines without the Debian
# packages (CLI11 and stb headers come from EVOSEARCH_EXTRA_INCLUDE, Redis is off).
#   PY=/opt/torch/.venv/bin/python3 EXTRA_INCLUDE=/path/with/CLI+stb bash cluster/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/opt/torch/.venv/bin/python3}
BUILD=${BUILD:-build-gpu}
OUT=${OUT:-out}
torch_prefix=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
nccl_root=$("$PY" -c 'import nvidia.nccl as n; print(list(n.__path__)[0])')
export PATH="$PATH:/usr/local/cuda/bin"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "== torch: $torch_prefix; NCCL: $nccl_root; nvcc: $(command -v nvcc)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$torch_prefix" \
  -DEVOSEARCH_CUDA=ON -DEVOSEARCH_NCCL=ON -DNCCL_ROOT="$nccl_root" -DEVOSEARCH_REDIS=OFF -DEVOSEARCH_VIDEO_FILES=AUTO \
  -DEVOSEARCH_EXTRA_INCLUDE="${EXTRA_INCLUDE:-}" -DEVOSEARCH_WERROR=ON || exit 1
cmake --build "$BUILD" --parallel "$(nproc)" || exit 1
"$BUILD/evosearch" --version
(cd "$BUILD" && ctest -L 'unit|gpu|mpi' --output-on-failure --parallel 8 --timeout 300)
status=$?
"$BUILD/evosearch" sample --device cuda --bundle models/fashion-ddpm --prompt "a dark sneaker" -n 64 \
  --batch 64 --out "$OUT/gpu-ddpm.png" | tail -3
"$BUILD/evosearch" sample --device cuda --bundle models/fashion-flow --prompt "a large bright bag" -n 64 \
  --batch 64 --out "$OUT/gpu-flow.png" | tail -3

echo "== the distributed job on the GPU"
jobs_dir=$(mktemp -d)
for run in embedded mpi-2-workers nccl-1-worker; do
  cat > "$jobs_dir/$run.json" <<JSON
{"name": "$run", "bundle": "$PWD/models/fashion-flow", "prompts": "$PWD/examples/fashion-suite.txt",
 "output": "$jobs_dir/$run", "seed": 1, "device": "cuda",
 "search": {"method": "evosearch", "evolution_steps": [0, 6, 12, 18], "population": [12, 6, 6, 6, 6], "elites": 1}}
JSON
done
"$BUILD/evosearch" run "$jobs_dir/embedded.json" 2>&1 | tail -3
mpirun -n 3 --oversubscribe "$BUILD/evosearch" run "$jobs_dir/mpi-2-workers.json" 2>&1 | grep -E "ranks via|data plane|state moves|method|error" | head
mpirun -n 2 "$BUILD/evosearch" run "$jobs_dir/nccl-1-worker.json" --data-plane nccl 2>&1 | grep -E "ranks via|data plane|state moves|method|error" | head
"$PY" - "$jobs_dir" <<'PYCODE'
import json, sys
d = sys.argv[1]
ref = json.load(open(f"{d}/embedded/results.json"))
for run in ["mpi-2-workers", "nccl-1-worker"]:
    r = json.load(open(f"{d}/{run}/results.json"))
    diffs = []
    for a, b in zip(ref["prompts"], r["prompts"]):
        if (a["generation"], a["candidate"]) != (b["generation"], b["candidate"]):
            diffs.append(f"prompt {a['index']}: answer ({a['generation']},{a['candidate']}) vs ({b['generation']},{b['candidate']})")
        worst = max(abs(a["scores"][k] - b["scores"][k]) for k in a["scores"])
        if worst > 1e-5:
            diffs.append(f"prompt {a['index']}: scores differ by {worst:.2e}")
    print(f"{run} vs embedded: workers {r['totals'].get('workers')}, state moves {r['totals'].get('state_moves', 0)}:",
          "SAME ANSWERS" if not diffs else "DIFFERENT: " + "; ".join(diffs))
PYCODE
exit $status
