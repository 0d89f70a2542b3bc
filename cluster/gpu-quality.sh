#!/usr/bin/env bash
# bench/quality (and bench/scaling --video) on a GPU machine without network, in one call of at
# most 10 minutes: builds evosearch and bench_quality with CUDA against the torch Python package's
# LibTorch, then runs the held-out quality tables of the three bundled models side by side on the
# GPU (each its own process and scratch folder):
#   fashion-video  examples/fashion-video-holdout.json  budgets VIDEO_BUDGETS (5,20,50)
#   fashion-ddpm   IMAGE_SUITE (examples/fashion-holdout.txt)  budgets DDPM_BUDGETS  (5,20,50)
#   fashion-flow   IMAGE_SUITE (examples/fashion-holdout.txt)  budgets FLOW_BUDGETS  (20,50)
# On a 2-core CPU the video table alone takes hours; on one H100/H200 the three take minutes.
# models/evaluate.py (the figures of models/README.md) runs beside them on the GPU, with the
# Fashion-MNIST test split that --prepare copies. When the machine has MPI, bench_scaling --video --workers SCALING_WORKERS (16,8,4,2,1) runs at
# the same time on its CPU cores (simulated denoiser, Wan-sized states, shards on /dev/shm): its
# efficiencies are then measured beside the quality runs, which the summary says.
# Machines without FFmpeg/libimagequant build with EVOSEARCH_VIDEO_FILES=OFF (bench_quality reads
# rewards, not MP4s); machines without OpenSSL's headers use the ones --prepare copied.
#
#   bash cluster/gpu-quality.sh --prepare     # here: copies CLI11, stb and OpenSSL headers into
#                                             # .device/include (name it in the device call's carry)
#   OUT=/some/dir bash cluster/gpu-quality.sh # on the GPU machine
#
# $OUT gets summary.txt (the tables as they finish) and logs.tar.gz. Settings (environment): PY
# (python with torch; default /opt/torch/.venv/bin/python3), DEVICE (cuda), BUILD (build-gpu),
# EXTRA_INCLUDE (.device/include), BUDGET (seconds for everything, default 540), METHODS (the
# tables' rows, bench_quality --methods; default its own list; for example
# METHODS=best-of-n@calls,lookahead@calls,best-of-n@seconds,lookahead@seconds,particles@seconds
# compares at equal measured model time on the GPU, where a decode's price differs most),
# IMAGE_SUITE (the image tables' prompts; IMAGE_SUITE=examples/fashion-holdout-36.txt gives the
# paired tests three times the prompts, at three times the time: pair it with fewer budgets).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [[ ${1:-} == --prepare ]]; then
  mkdir -p .device/include/openssl
  cp -r /usr/include/CLI /usr/include/stb .device/include/ || exit 1
  mkdir -p .device/fashion-mnist
  cp /usr/share/datasets/fashion-mnist/t10k-* .device/fashion-mnist/ || exit 1
  # OpenSSL's headers are split between a common and an architecture folder on Debian.
  cp /usr/include/openssl/*.h "/usr/include/$(gcc -dumpmachine)/openssl/"*.h .device/include/openssl/ || exit 1
  echo "copied CLI11, stb and OpenSSL headers to .device/include and Fashion-MNIST's test split to .device/fashion-mnist;"
  echo "name both in the device call's carry"
  exit 0
fi

t_start=$SECONDS
BUDGET=${BUDGET:-540}
DEVICE=${DEVICE:-cuda}
BUILD=${BUILD:-build-gpu}
[[ $BUILD == /* ]] || BUILD=$root/$BUILD
OUT=${OUT:-out/gpu-quality}
EXTRA_INCLUDE=${EXTRA_INCLUDE:-$root/.device/include}
PY=${PY:-/opt/torch/.venv/bin/python3}
[[ -x $PY ]] || PY=$(command -v python3)
export PATH="$PATH:/usr/local/cuda/bin"
mkdir -p "$OUT"
logs=$(mktemp -d /tmp/evosearch-gpu-quality.XXXXXX)
summary=$OUT/summary.txt
: > "$summary"
note() { echo "$*" | tee -a "$summary"; }
left() { echo $((BUDGET - (SECONDS - t_start))); }
pack() { tar -czf "$OUT/logs.tar.gz" -C "$logs" .; }

note "gpu-quality: $(date -u +%FT%TZ), device $DEVICE, budget $BUDGET s"
{
  command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())'
  echo "cores $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | tee -a "$summary"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
flags=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DEVOSEARCH_TESTS=OFF -DEVOSEARCH_MPI=AUTO -DEVOSEARCH_NCCL=OFF
       -DEVOSEARCH_REDIS=OFF -DEVOSEARCH_YAML=OFF -DEVOSEARCH_VIDEO_FILES=AUTO -DEVOSEARCH_WERROR=OFF
       -DEVOSEARCH_EXTRA_INCLUDE="$EXTRA_INCLUDE")
[[ $DEVICE == cuda ]] && flags+=(-DEVOSEARCH_CUDA=ON -DCMAKE_PREFIX_PATH="$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')")
if [[ ! -e /usr/include/openssl/sha.h && -e $EXTRA_INCLUDE/openssl/sha.h ]]; then
  # Headers from --prepare, the machine's own libcrypto (OpenSSL 3 on both sides).
  ssl=/tmp/evosearch-openssl
  mkdir -p "$ssl/lib" "$ssl/include"
  ln -sfn "$EXTRA_INCLUDE/openssl" "$ssl/include/openssl"
  lib=$(ldconfig -p | awk '/libcrypto\.so\.3 .*x86-64/ {print $NF; exit}')
  ln -sfn "$lib" "$ssl/lib/libcrypto.so"
  flags+=(-DOPENSSL_ROOT_DIR="$ssl")
  note "OpenSSL: carried headers, $lib"
fi
t0=$SECONDS
if [[ -f $BUILD/CMakeCache.txt ]] || cmake -S . -B "$BUILD" "${flags[@]}" > "$logs/configure.log" 2>&1; then
  timeout "$(left)" cmake --build "$BUILD" --parallel "$(nproc)" --target evosearch bench_quality > "$logs/build.log" 2>&1
  built=$?
  scaling=0
  if ((built == 0)) && cmake --build "$BUILD" --target help 2> /dev/null | grep -q '^bench_scaling:'; then
    timeout "$(left)" cmake --build "$BUILD" --parallel "$(nproc)" --target bench_scaling >> "$logs/build.log" 2>&1 && scaling=1
  fi
else
  built=1
fi
note "build exit $built after $((SECONDS - t0)) s; $(grep -c 'warning:' "$logs/build.log" 2>/dev/null) warnings;" \
  "$(grep -E 'evosearch: .*MPI=' "$logs/configure.log" 2>/dev/null | head -1)"
if ((built != 0)); then
  tail -30 "$logs"/configure.log "$logs"/build.log 2>/dev/null | tee -a "$summary"
  pack
  exit 1
fi

# One bench_quality per bundle, at once, with few CPU threads each (the GPU computes; idle OpenMP
# threads of several processes on the same cores spin); each writes its table line by line.
export OMP_NUM_THREADS=${THREADS:-2}
run_table() {
  local name=$1
  shift
  mkdir -p "$logs/tmp-$name"
  local methods=()
  [[ -n ${METHODS:-} ]] && methods=(--methods "$METHODS")
  TMPDIR=$logs/tmp-$name timeout --kill-after=10 "$(left)" stdbuf -oL "$BUILD/bench/bench_quality" --device "$DEVICE" \
    --threads "${THREADS:-2}" "${methods[@]}" "$@" \
    > "$logs/$name.log" 2>&1
  echo "$name: exit $? after $((SECONDS - t_start)) s" >> "$logs/exits.txt"
}
run_table video --bundles fashion-video --suite examples/fashion-video-holdout.json --budgets "${VIDEO_BUDGETS:-5,20,50}" &
run_table ddpm --bundles fashion-ddpm --suite "${IMAGE_SUITE:-examples/fashion-holdout.txt}" --budgets "${DDPM_BUDGETS:-5,20,50}" &
run_table flow --bundles fashion-flow --suite "${IMAGE_SUITE:-examples/fashion-holdout.txt}" --budgets "${FLOW_BUDGETS:-20,50}" &
mkdir -p "$logs/evaluate"
(
  FASHION_DIR=$root/.device/fashion-mnist EVO_DEVICE=$DEVICE timeout --kill-after=10 "$(left)" "$PY" models/evaluate.py \
    --out "$logs/evaluate" > "$logs/evaluate.log" 2>&1
  echo "evaluate: exit $? after $((SECONDS - t_start)) s" >> "$logs/exits.txt"
) &
if ((scaling)); then
  (
    mkdir -p /dev/shm/evosearch-scaling
    TMPDIR=/dev/shm/evosearch-scaling timeout --kill-after=10 "$(left)" stdbuf -oL "$BUILD/bench/bench_scaling" --video \
      --workers "${SCALING_WORKERS:-16,8,4,2,1}" > "$logs/scaling.log" 2>&1
    echo "scaling: exit $? after $((SECONDS - t_start)) s" >> "$logs/exits.txt"
    rm -rf /dev/shm/evosearch-scaling
  ) &
else
  note "bench_scaling: not built (no MPI here)"
fi
while [[ -n $(jobs -r) ]]; do
  sleep 20
  pack
done
wait
note "== tables ($((SECONDS - t_start)) s)"
cat "$logs/exits.txt" >> "$summary"
for name in video ddpm flow scaling evaluate; do
  [[ -f $logs/$name.log ]] || continue
  note "== $name"
  grep -v -E "^\[|lease lost" "$logs/$name.log" >> "$summary"
done
rm -rf "$logs"/tmp-*
pack
note "total $((SECONDS - t_start)) s"
