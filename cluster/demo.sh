#!/usr/bin/env bash
# The README's first command: set up, build, and run the main job on the embedded default
# (one process, local files, a bundled model): EvoSearch over the example prompt suite.
# Outputs go to out/fashion-evosearch/ (images/, grids/, results.json).
# `bash cluster/demo.sh video` runs the video job instead (examples/fashion-video-evosearch.json):
# out/fashion-video-evosearch/ with videos/*.mp4, previews/*.gif and frame strips in images/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
spec=fashion-evosearch
what="images/*.png"
if [ "${1:-}" = video ]; then
  shift
  spec=fashion-video-evosearch
  what="videos/*.mp4 (previews/*.gif, frame strips in images/)"
fi
evosearch_install_packages
evosearch_build evosearch

# Running it again resumes (finished prompts are kept); pass --restart to start over.
"$EVOSEARCH_BUILD/evosearch" run "$EVOSEARCH_ROOT/examples/$spec.json" "$@"
evosearch_log "done: look at $EVOSEARCH_ROOT/out/$spec/$what and results.json"
