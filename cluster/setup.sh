#!/usr/bin/env bash
# Shared by the README's two commands (cluster/demo.sh, cluster/test.sh): installs the
# Debian packages the project needs (once; skipped when present) and builds incrementally.
set -euo pipefail

EVOSEARCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EVOSEARCH_BUILD="${EVOSEARCH_BUILD:-$EVOSEARCH_ROOT/build}"

# Why each is here: README.md, "Dependencies".
EVOSEARCH_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-pthread
  libprotobuf-dev protobuf-compiler libspdlog-dev libfmt-dev
  libopenmpi-dev openmpi-bin
  libgtest-dev libgmock-dev libcli11-dev libstb-dev libyaml-cpp-dev
  libavcodec-dev libavformat-dev libswscale-dev libavutil-dev libimagequant-dev
  libhiredis-dev libssl-dev
)
# Only the test command needs these (the report page's browser test; openssl makes the
# throwaway CA of the rediss:// tests; python3-protobuf runs the reference reward server;
# python3-torch exports the Wan 2.1 bundles of the WanModel, WanBundle, MpiWan and
# BenchmarkBundle tests with /usr/bin/python3).
EVOSEARCH_TEST_PACKAGES=(chromium ffmpeg openssl python3-protobuf python3-torch)

evosearch_log() { printf '\033[1m[evosearch setup]\033[0m %s\n' "$*" >&2; }

# evosearch_install_packages [EXTRA...]: the packages above plus EXTRA, each only when missing.
evosearch_install_packages() {
  local missing=()
  for p in "${EVOSEARCH_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    evosearch_log "packages: all present"
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    evosearch_log "missing packages: ${missing[*]}; run as root (or install them) first"
    exit 1
  fi
  evosearch_log "installing ${#missing[@]} Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# evosearch_build [TARGET...]: configures once, then builds the targets (default: everything).
evosearch_build() {
  evosearch_log "building in $EVOSEARCH_BUILD (incremental)"
  if [ ! -f "$EVOSEARCH_BUILD/build.ninja" ]; then
    cmake -S "$EVOSEARCH_ROOT" -B "$EVOSEARCH_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEVOSEARCH_WERROR=ON
  fi
  local targets=()
  for t in "$@"; do targets+=(--target "$t"); done
  cmake --build "$EVOSEARCH_BUILD" --parallel "$(nproc)" "${targets[@]}"
}
