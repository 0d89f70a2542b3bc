#!/usr/bin/env bash
# The README's second command: set up, build, start a local Slurm and a local Redis (for the
# `slurm` and `redis` tests), and run the whole test suite (unit, mpi, slurm, redis; gpu tests
# skip themselves without a GPU).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
evosearch_install_packages "${EVOSEARCH_TEST_PACKAGES[@]}"
evosearch_build
bash "$EVOSEARCH_ROOT/cluster/slurm-local.sh"
bash "$EVOSEARCH_ROOT/cluster/redis-local.sh"
cd "$EVOSEARCH_BUILD"
ctest --output-on-failure --parallel "$(nproc)" --timeout 600
