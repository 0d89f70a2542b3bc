#!/usr/bin/env bash
# The README's first command: set up, build, and run the main job on the embedded default
# (one process, local files, a bundled model): EvoSearch over the example prompt suite.
# Outputs go to out/fashion-evosearch/ (images/, grids/, results.json).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
evosearch_install_packages
evosearch_build evosearch

# Running it again resumes (finished prompts are kept); pass --restart to start over.
"$EVOSEARCH_BUILD/evosearch" run "$EVOSEARCH_ROOT/examples/fashion-evosearch.json" "$@"
evosearch_log "done: look at $EVOSEARCH_ROOT/out/fashion-evosearch/images/*.png and results.json"
