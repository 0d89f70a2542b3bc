#!/usr/bin/env bash
# Builds against the torch Python package's LibTorch with CUDA and NCCL required, then runs the
# unit and gpu tests and samples the bundled models on the GPU. For GPU machines without the
# Debian packages (CLI11 and stb headers come from EVOSEARCH_EXTRA_INCLUDE, Redis is off).
#   PY=/opt/torch/.venv/bin/python3 EXTRA_INCLUDE=/path/with/CLI+stb bash cluster/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/opt/torch/.venv/bin/python3}
BUILD=${BUILD:-build-gpu}
torch_prefix=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
nccl_root=$("$PY" -c 'import nvidia.nccl as n; print(list(n.__path__)[0])')
export PATH="$PATH:/usr/local/cuda/bin"
echo "== torch: $torch_prefix; NCCL: $nccl_root; nvcc: $(command -v nvcc)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$torch_prefix" \
  -DEVOSEARCH_CUDA=ON -DEVOSEARCH_NCCL=ON -DNCCL_ROOT="$nccl_root" -DEVOSEARCH_REDIS=OFF \
  -DEVOSEARCH_EXTRA_INCLUDE="${EXTRA_INCLUDE:-}" -DEVOSEARCH_WERROR=ON || exit 1
cmake --build "$BUILD" --parallel "$(nproc)" || exit 1
"$BUILD/evosearch" --version
(cd "$BUILD" && ctest -L 'unit|gpu' --output-on-failure --parallel 8 --timeout 300)
status=$?
"$BUILD/evosearch" sample --device cuda --bundle models/fashion-ddpm --prompt "a dark sneaker" -n 64 \
  --batch 64 --out "${OUT:-out}/gpu-ddpm.png" | tail -3
"$BUILD/evosearch" sample --device cuda --bundle models/fashion-flow --prompt "a large bright bag" -n 64 \
  --batch 64 --out "${OUT:-out}/gpu-flow.png" | tail -3
exit $status
