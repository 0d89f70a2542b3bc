#!/usr/bin/env bash
# The README's second command: set up, build, and run the whole test suite. Tests that need a
# GPU skip themselves on machines without one.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
evosearch_install_packages
evosearch_build
cd "$EVOSEARCH_BUILD"
ctest --output-on-failure --parallel "$(nproc)" --timeout 600
