#!/usr/bin/env bash
# tests/fuzz/run.sh [EXECUTIONS]: builds the fuzz targets with clang (libFuzzer, ASan, UBSan) in
# build-fuzz/ and runs each for EXECUTIONS inputs (default 20000), starting from its committed
# seeds. Fails on the first crash, sanitizer report, broken invariant (fuzz_support.h), leak,
# input slower than 10 s or allocation over 512 MB; the input that did it is kept in
# build-fuzz/crashes/. Inputs that reached new code are kept in build-fuzz/corpus/<target>/ and
# grow from run to run; the committed seeds stay as they are.
#
#   FUZZ_TARGETS="fuzz_shard fuzz_manifest"  only these targets
#   FUZZ_ARGS="-max_total_time=60"             more libFuzzer flags for every target
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
runs="${1:-20000}"
build="${EVOSEARCH_FUZZ_BUILD:-$root/build-fuzz}"
targets=(${FUZZ_TARGETS:-fuzz_job_spec fuzz_prompt_suite fuzz_manifest fuzz_shard fuzz_file_store})

if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DEVOSEARCH_FUZZ=ON -DEVOSEARCH_WERROR=ON
fi
cmake --build "$build" --parallel "$(nproc)" --target "${targets[@]}"

mkdir -p "$build/crashes"
# One OpenMP thread: fuzz_manifest links LibTorch, whose idle pool only adds noise.
export OMP_NUM_THREADS=1
for target in "${targets[@]}"; do
  seeds="$root/tests/fuzz/corpus/$target"
  dict="$root/tests/fuzz/$target.dict"
  found="$build/corpus/$target"
  mkdir -p "$found"
  args=(-runs="$runs" -timeout=10 -malloc_limit_mb=512 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$build/crashes/$target-")
  [ -f "$dict" ] && args+=(-dict="$dict")
  echo "== $target: $runs executions" >&2
  # shellcheck disable=SC2086  # FUZZ_ARGS is a list of flags
  "$build/tests/fuzz/$target" "${args[@]}" ${FUZZ_ARGS:-} "$found" "$seeds"
done
echo "== fuzzing passed: ${targets[*]}, $runs executions each" >&2
