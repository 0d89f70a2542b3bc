#!/usr/bin/env bash
# cluster/sanitize.sh asan|tsan [CTEST_ARGS...]: builds the whole tree with a sanitizer in its own
# folder and runs the tests that mean something under it.
#
#   asan  build-asan/: AddressSanitizer + UndefinedBehaviorSanitizer (-fno-sanitize-recover: the
#         first report fails the test); runs the `unit` and `mpi` labels, and `process` with
#         SANITIZE_PROCESS=1 (the evosearch program those tests start is the instrumented one).
#   tsan  build-tsan/: ThreadSanitizer; runs the tests whose code has threads of its own: the
#         worker's compute and communication threads (ComputeThread, the mpi jobs), the
#         coordinator's lease keeper and signal handling (jobs run by the evosearch program), the
#         MPI channel and data plane.
#
# LibTorch, Open MPI, protobuf and the C libraries are Debian's, not instrumented: their own
# memory errors and races go unseen, and what they do inside is invisible to the sanitizers
# (calls into them are still checked at the boundary: ASan's malloc/free and memory-function
# interceptors, TSan's pthread and libc interceptors). The suppressions in tests/sanitize/ name
# only those libraries, never a file of ours, and say why each is there. ASan's leak checker
# stays on for our code; leaks that Open MPI, LibTorch and OpenBLAS keep until exit are
# suppressed. TSan runs with one OpenMP thread (libgomp is not instrumented, so its barriers would
# be reported as races) and with ASLR off when `setarch -R` allows it (TSan's fixed shadow
# layout does not fit every kernel's mmap randomisation).
#
# A sanitizer build compiles what the selected tests run, once (no ccache hits from the normal
# build): about 55 minutes on two cores for asan (while other work ran), 40 for tsan. The tests
# then run 2-10x slower under asan (the unit label about 15 minutes) and up to 50x under tsan (an
# Mpi.* test about 12 minutes). Measured results: README, "Sanitizer runs".
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kind="${1:-}"
targets=()
shift || true
supp="$root/tests/sanitize"
case "$kind" in
  asan)
    # -Wno-maybe-uninitialized: GCC 12 with ASan reports std::regex's own std::function moves as
    # maybe-uninitialized (inside libstdc++'s headers); the normal build keeps the warning.
    flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Wno-maybe-uninitialized"
    labels="unit|mpi${SANITIZE_PROCESS:+|process}"
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0:strict_init_order=1:${ASAN_OPTIONS:-}"
    export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"
    # Open MPI unloads its plugins at MPI_Finalize, so the leak checker could not name them (its
    # reports then show "<unknown module>"): keep them loaded, their leaks are suppressed by name.
    export OMPI_MCA_mca_base_component_disable_dlclose=1
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp:${UBSAN_OPTIONS:-}"
    select=(-L "$labels")
    # Only the programs those labels run (no benchmarks, no process-only tests unless asked): the
    # evosearch_test(NAME LABEL ...) lines of tests/CMakeLists.txt, the two MPI programs, the fuzz
    # corpus replays.
    mapfile -t tests < <(sed -nE "s/^ *evosearch_test\(([a-z_]+) (${labels})( .*)?\)$/\1/p" "$root/tests/CMakeLists.txt")
    mapfile -t fuzz < <(sed -nE 's/^evosearch_fuzz_target\(([a-z_]+) .*/\1/p' "$root/tests/fuzz/CMakeLists.txt")
    targets=(--target evosearch data_plane_test mpi_channel_test "${tests[@]}" "${fuzz[@]}")
    [ -n "${SANITIZE_PROCESS:-}" ] && targets+=(hostile_test)
    ;;
  tsan)
    flags="-fsanitize=thread -fno-omit-frame-pointer"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp:${TSAN_OPTIONS:-}"
    select=(-R 'ComputeThread|WorkerHealth|ReplyTracker|^Mpi\.|MpiChannel|DataPlane\.Mpi3Ranks$|^Job\.(EvoSearchWritesImagesAndResults|ASecondRunOnTheSameOutputFolderIsRefusedNamingTheFirst)$|^Resume\.SigtermCheckpointsAndExitsForRetry$')
    # Only the programs those tests run (a whole-tree TSan build takes over an hour on two cores).
    targets=(--target evosearch compute_thread_test coordinator_parts_test data_plane_test job_test mpi_channel_test
             mpi_test resume_test)
    ;;
  *)
    echo "usage: cluster/sanitize.sh asan|tsan [CTEST_ARGS...]" >&2
    exit 2
    ;;
esac

# SANITIZE_TARGETS="a b": build only these (then select their tests with CTEST_ARGS, e.g. -R).
[ -n "${SANITIZE_TARGETS:-}" ] && read -r -a targets <<< "--target $SANITIZE_TARGETS"
build="$root/build-$kind"
if [ ! -f "$build/build.ninja" ]; then
  # RelWithDebInfo: optimised like the normal build (so timeouts hold), with lines in reports.
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEVOSEARCH_WERROR=ON \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags"
fi
cmake --build "$build" --parallel "$(nproc)" "${targets[@]}"

export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
runner=()
if [ "$kind" = tsan ] && setarch "$(uname -m)" -R true 2>/dev/null; then
  runner=(setarch "$(uname -m)" -R)
fi
cd "$build"
[ -n "${SANITIZE_TARGETS:-}" ] && select=()
"${runner[@]}" ctest --output-on-failure --parallel "$(nproc)" --timeout 1200 "${select[@]}" "$@"
