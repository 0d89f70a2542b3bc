#!/usr/bin/env bash
# The README's first command: set up, build, and run the main job on the embedded default
# (one process, local files, the bundled models). Outputs go to out/demo/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
evosearch_install_packages
evosearch_build

out="$EVOSEARCH_ROOT/out/demo"
evosearch="$EVOSEARCH_BUILD/evosearch"
"$evosearch" check --bundle "$EVOSEARCH_ROOT/models/fashion-ddpm"
"$evosearch" sample --bundle "$EVOSEARCH_ROOT/models/fashion-ddpm" --prompt "a dark sneaker" -n 16 \
  --out "$out/fashion-ddpm-dark-sneaker.png"
"$evosearch" sample --bundle "$EVOSEARCH_ROOT/models/fashion-flow" --prompt "a large bright bag" -n 16 \
  --out "$out/fashion-flow-large-bright-bag.png"
evosearch_log "done: look at $out/*.png"
