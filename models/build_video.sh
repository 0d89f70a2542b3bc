#!/bin/bash
# Rebuild the fashion-video bundle and the content classifiers from scratch:
#   train (frame autoencoder, latent video flow, 3 frame classifiers, image content classifier)
#   -> export (models/fashion-video; fashion-content into the two image bundles) -> verify -> evaluate.
#
#   bash models/build_video.sh             # the configuration of the shipped weights (2 CPU cores, see README.md)
#
# Uses CUDA when available (EVO_DEVICE=cpu forces CPU). Data: /usr/share/datasets/fashion-mnist
# (or FASHION_DIR). Checkpoints go to models/checkpoints/ (git-ignored). The image bundles must
# exist already (build_all.sh); only their fashion-content reward is (re)written.
set -euo pipefail
cd "$(dirname "$0")"
export PYTHONUNBUFFERED=1
# OpenMP threads that spin while waiting burned ~3x the CPU time on a shared 2-core machine
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
if [ -z "${PY:-}" ]; then
  if /usr/bin/python3 -c "import torch" 2>/dev/null; then PY=/usr/bin/python3; else PY=python3; fi
fi
mkdir -p logs
run() { echo "+ $*"; "$PY" "$@" 2>&1 | tee -a logs/build_video.log; }
: > logs/build_video.log
run train_video_autoencoder.py --iters 2000 --batch 64
run train_video_flow.py        --iters 5000 --batch 32
run train_frame_clf.py --which guidance --iters 1500 --batch 128
run train_frame_clf.py --which eval     --iters 1500 --batch 128
run train_frame_clf.py --which content  --iters 1200 --batch 128
run train_content_clf.py       --iters 1500 --batch 128
run export_video.py
run export_content.py
run verify_video.py
run verify.py
run evaluate_video.py --per-prompt 10 --sweep
run evaluate_content.py --n-per-class 30
