#!/usr/bin/env bash
# The GPU-speed benchmarks in one go, for a GPU machine without network (one call of at most 10
# minutes): builds evosearch with CUDA against the torch Python package's LibTorch (only the
# programs the benchmarks need), writes the benchmark bundles, and runs on the GPU
#   1. a tiny benchmark bundle through every bench (a quick check that each one runs);
#   2. the real-size (Wan 2.1 1.3B-shaped, bfloat16) bundle: bench_throughput (the denoiser alone
#      over batch sizes, then EvoSearch end to end) and compare_official.sh (evosearch run against
#      the official code's one-candidate-at-a-time loop, equal NFE);
#   3. bench_memory: 20 prompts against 2 on the tiny model with Wan's latent and condition sizes;
#   4. the bundled fashion-flow image model and fashion-video video model through bench_throughput
#      and compare_official.sh.
# bench_throughput prints where the end-to-end time went (results.json totals.phases).
# $OUT gets two files (a device call returns at most 8): summary.txt, written as the stages end,
# and logs.tar.gz with every stage's log and JSON, refreshed after each stage. Stages run while
# time is left in BUDGET seconds (default 560); one that fails is logged and the next one runs.
#
#   bash cluster/gpu-bench.sh --prepare     # here, before the device call: copies the header-only
#                                           # CLI11 and stb into .device/include (carry it)
#   OUT=/some/dir bash cluster/gpu-bench.sh # on the GPU machine
#
# Settings (environment): PY (python with torch; default /opt/torch/.venv/bin/python3, else
# python3), DEVICE (cuda; cpu for a dry run), SCALE (full), LATENT (F,H,W of the real-size latent;
# default the bundle's 9,104,60), STEPS (10: the Wan schedule's shape at T = 10, S = 1,4,6,9),
# PROMPTS (1 for the real-size runs), FASHION_PROMPTS (8 for the bundled models), MEMORY_LATENT
# and MEMORY_TEXT (the memory bench's latent and condition; default Wan's, 9,104,60 and
# 512,4096), BUILD (build-gpu), EXTRA_INCLUDE (.device/include), BUNDLES (where bundles are
# written), BUDGET.
# A build folder that is already configured is only brought up to date (not configured again).
# Dry run on a CPU machine, reusing the usual build/:
#   DEVICE=cpu SCALE=tiny STEPS=6 MEMORY_LATENT=3,16,16 MEMORY_TEXT=16,64 FASHION_PROMPTS=2 BUDGET=6000 \
#     BUILD=build PY=/usr/bin/python3 OUT=out/gpu-bench-dry bash cluster/gpu-bench.sh
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [[ ${1:-} == --prepare ]]; then
  mkdir -p .device/include
  cp -r /usr/include/CLI .device/include/ && cp -r /usr/include/stb .device/include/ || exit 1
  echo "copied CLI11 and stb headers to .device/include; name .device/include in the device call's carry"
  exit 0
fi

t_start=$SECONDS
BUDGET=${BUDGET:-560}
DEVICE=${DEVICE:-cuda}
SCALE=${SCALE:-full}
STEPS=${STEPS:-10}
PROMPTS=${PROMPTS:-1}
FASHION_PROMPTS=${FASHION_PROMPTS:-8}
BUILD=${BUILD:-build-gpu}
[[ $BUILD == /* ]] || BUILD=$root/$BUILD
OUT=${OUT:-out/gpu-bench}
EXTRA_INCLUDE=${EXTRA_INCLUDE:-$root/.device/include}
if [[ -z ${PY:-} ]]; then
  PY=/opt/torch/.venv/bin/python3
  [[ -x $PY ]] || PY=$(command -v python3)
fi
export PY BUILD PYTHONUNBUFFERED=1 PATH="$PATH:/usr/local/cuda/bin"
mkdir -p "$OUT"
bundles=${BUNDLES:-/tmp/evosearch-gpu-bench-bundles}
logs=$(mktemp -d /tmp/evosearch-gpu-bench-logs.XXXXXX)
mkdir -p "$bundles"
summary=$OUT/summary.txt
: > "$summary"

note() { echo "$*" | tee -a "$summary"; }
left() { echo $((BUDGET - (SECONDS - t_start))); }
# stage NAME SECONDS_NEEDED COMMAND...: runs COMMAND (output to NAME.log in $logs) if that much time is left,
# within the time left; records how it went.
stage() {
  local name=$1 need=$2
  shift 2
  if (($(left) < need)); then
    note "== $name: SKIPPED, $(left) s left and it needs about $need"
    return 1
  fi
  note "== $name ($(left) s left)"
  local t0=$SECONDS
  timeout --kill-after=10 "$(left)" "$@" > "$logs/$name.log" 2>&1
  local rc=$?
  note "   exit $rc after $((SECONDS - t0)) s; log $name.log"
  tar -czf "$OUT/logs.tar.gz" -C "$logs" .
  return $rc
}

note "gpu-bench: $(date -u +%FT%TZ), device $DEVICE, scale $SCALE, T $STEPS, $PROMPTS prompt(s), budget $BUDGET s"
{
  if command -v nvidia-smi > /dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; else echo "no nvidia-smi"; fi
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())'
  echo "cores $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)"
  for pc in protobuf libavcodec libavformat libswscale libavutil imagequant; do
    pkg-config --exists "$pc" && echo "pkg-config $pc: $(pkg-config --modversion "$pc")" || echo "pkg-config $pc: MISSING"
  done
  for h in CLI/CLI.hpp stb/stb_image_write.h spdlog/spdlog.h; do
    [[ -e /usr/include/$h || -e $EXTRA_INCLUDE/$h ]] && echo "header $h: found" || echo "header $h: MISSING"
  done
} 2>&1 | tee -a "$summary"

# The real-size bundle is written on the CPU while the C++ build runs; with plain blocked attention
# if this torch cannot script its fused attention.
real_bundle=(models/make_benchmark_bundle.py --scale "$SCALE" --out "$bundles/real")
[[ -n ${LATENT:-} ]] && real_bundle+=(--latent "$LATENT")
[[ $DEVICE == cuda ]] && real_bundle+=(--dtype bfloat16)
{ "$PY" "${real_bundle[@]}" || "$PY" "${real_bundle[@]}" --attention blocked; } > "$logs/bundle-real.log" 2>&1 &
bundle_pid=$!

# Only what the benchmarks need. Warnings do not stop this build (one GPU session is too short to
# lose to a deprecation in a newer LibTorch): they are counted in the summary instead.
cmake_flags=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DEVOSEARCH_TESTS=OFF -DEVOSEARCH_MPI=OFF -DEVOSEARCH_NCCL=OFF
             -DEVOSEARCH_REDIS=OFF -DEVOSEARCH_YAML=OFF -DEVOSEARCH_VIDEO_FILES=AUTO -DEVOSEARCH_EXTRA_INCLUDE="$EXTRA_INCLUDE"
             -DEVOSEARCH_WERROR=OFF)
if [[ $DEVICE == cuda ]]; then
  cmake_flags+=(-DEVOSEARCH_CUDA=ON -DCMAKE_PREFIX_PATH="$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')")
fi
configured=0
[[ -f $BUILD/CMakeCache.txt ]] || { stage configure 30 cmake -S . -B "$BUILD" "${cmake_flags[@]}"; configured=$?; }
((configured == 0)) &&
  stage build 120 cmake --build "$BUILD" --parallel "$(nproc)" --target evosearch bench_throughput bench_memory
built=$?
note "   compiler warnings: $(grep -c 'warning:' "$logs/build.log" 2>/dev/null || true)"
stage tiny-bundle 20 "$PY" models/make_benchmark_bundle.py --scale tiny --out "$bundles/tiny"
stage memory-bundle 20 "$PY" models/make_benchmark_bundle.py --scale tiny --latent "${MEMORY_LATENT:-9,104,60}" \
  --text "${MEMORY_TEXT:-512,4096}" --out "$bundles/memory"
note "== waiting for the real-size bundle ($(left) s left)"
while kill -0 "$bundle_pid" 2> /dev/null && (($(left) > 0)); do sleep 1; done
kill "$bundle_pid" 2> /dev/null
wait "$bundle_pid"
note "   bundle exit $?: $(tail -1 "$logs/bundle-real.log")"

threads=$(nproc)
throughput=("$BUILD/bench/bench_throughput" --device "$DEVICE" --threads "$threads")
if ((built == 0)); then
  stage tiny-throughput 30 "${throughput[@]}" "$bundles/tiny" --steps "$STEPS" --prompts 2 --batches 1,4 --seconds 0.3 --json "$logs/tiny-throughput.json"
  stage tiny-compare 40 bash bench/compare_official.sh "$bundles/tiny" --device "$DEVICE" --steps "$STEPS" \
    --prompts 2 --threads "$threads" --json "$logs/tiny-compare.json"
  stage real-throughput 150 "${throughput[@]}" "$bundles/real" --steps "$STEPS" --prompts "$PROMPTS" --batches 1,2,4,8 \
    --json "$logs/real-throughput.json"
  stage real-compare 150 bash bench/compare_official.sh "$bundles/real" --device "$DEVICE" --steps "$STEPS" \
    --prompts "$PROMPTS" --batch 4 --threads "$threads" --json "$logs/real-compare.json"
  stage memory 60 "$BUILD/bench/bench_memory" "$bundles/memory" --device "$DEVICE" --steps "$STEPS" \
    --threads "$threads" --json "$logs/memory.json"
  stage fashion-throughput 40 "${throughput[@]}" models/fashion-flow --steps 30 --prompts "$FASHION_PROMPTS" --json "$logs/fashion-throughput.json"
  stage fashion-compare 60 bash bench/compare_official.sh models/fashion-flow --device "$DEVICE" --steps 30 \
    --prompts "$FASHION_PROMPTS" --threads "$threads" --json "$logs/fashion-compare.json"
  stage video-throughput 40 "${throughput[@]}" models/fashion-video --steps 20 --prompts "$FASHION_PROMPTS" \
    --suite examples/fashion-video-holdout.json --json "$logs/video-throughput.json"
  stage video-compare 60 bash bench/compare_official.sh models/fashion-video --device "$DEVICE" --steps 20 \
    --prompts "$FASHION_PROMPTS" --threads "$threads" --suite examples/fashion-video-holdout.json --json "$logs/video-compare.json"
else
  note "build failed: running the official loop alone on the real-size bundle (the Python side)"
  printf 'a red car on a wet street\n' > "$logs/prompt.txt"
  stage real-official-only 150 "$PY" bench/official_loop.py "$bundles/real" "$logs/prompt.txt" --steps "$STEPS" \
    --evolution-steps "$(for s in 5 20 30 45; do echo $(((s * STEPS * 2 + 50) / 100)); done | paste -sd,)" \
    --population 10,5,5,5,5 --device "$DEVICE" --json "$logs/real-official-only.json"
fi

note "== results"
for log in "$logs"/*.log; do
  grep -h -E "^[0-9]+ |best:|end to end|NFE/s|outside model|model calls |job loop|speed-up|peak|load average|failed|Error|error" "$log" \
    | sed "s|^|$(basename "$log" .log): |" >> "$summary"
done
note "total $((SECONDS - t_start)) s"
tar -czf "$OUT/logs.tar.gz" -C "$logs" .
cat "$summary"
