#!/usr/bin/env bash
# The README's second command: set up, build, start a local Slurm (for the `slurm` tests), and
# run the whole test suite (unit, mpi, slurm; gpu tests skip themselves without a GPU).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
evosearch_install_packages "${EVOSEARCH_TEST_PACKAGES[@]}"
evosearch_build
bash "$EVOSEARCH_ROOT/cluster/slurm-local.sh"
cd "$EVOSEARCH_BUILD"
ctest --output-on-failure --parallel "$(nproc)" --timeout 600
