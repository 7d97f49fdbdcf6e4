#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs (Debian/Ubuntu, apt) everything building, testing and benchmarking
# eqinfo needs. Does nothing, and never touches apt, when all of it is
# installed already. Runs as root (or via sudo) without a TTY.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build catch2
  libbenchmark-dev libeigen3-dev libxsimd-dev libtbb-dev zlib1g-dev libzstd-dev
  clang clang-format
  python3-torch python3-numpy python3-pytest python3-tqdm python3-matplotlib libopenblas0-pthread
  sentencepiece python3-sentencepiece pybind11-dev python3-dev xz-utils zstd
  python3-dask python3-distributed
  python3-pip python3-venv python3-setuptools python3-wheel python3-build python3-pybind11
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
  [[ "$status" == "installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

command -v apt-get >/dev/null || { echo "install-deps: missing ${missing[*]}, and apt-get is not available" >&2; exit 1; }
SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: missing ${missing[*]}; run as root or install sudo" >&2; exit 1; }
  SUDO=(sudo -n)
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
