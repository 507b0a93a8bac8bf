#!/usr/bin/env bash
# Installs the Debian 12 packages Strata needs and builds it (Release with debug info) into
# build/. Safe to run again: only missing packages are installed, and the build is incremental.
#   tools/setup.sh            build the binary and tests
#   STRATA_BUILD_DIR=dir      build somewhere else
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config
  libdcmtk-dev dcmtk libsqlite3-dev nlohmann-json3-dev libcli11-dev libtomlplusplus-dev
  libssl-dev libopenjp2-7-dev libboost-dev libcurl4-openssl-dev libopencv-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
  python3 python3-pydicom iproute2 util-linux procps time curl openssl unzip
  orthanc orthanc-dicomweb
  chromium
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js for the npm test tools: Debian's unless one is installed already.
command -v npm >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The Debian orthanc package starts a system service; Strata's benchmarks start their own.
  if [[ " ${missing[*]} " == *" orthanc "* ]] && command -v systemctl >/dev/null; then
    "${sudo_cmd[@]}" systemctl disable --now orthanc >/dev/null 2>&1 || true
  fi
fi

# Test peers and clients from npm (Azurite, dicomweb-client, playwright-core), pinned by
# package-lock.json. Debian's nodejs/npm are installed above when no Node.js is present.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
# The pinned prebuilt OHIF viewer (served by `strata serve` when viewer.dir points at it).
tools/setup_viewer.sh >/dev/null
# ONNX Runtime for the inference engine, assembled from npm packages into .deps/onnxruntime
# (without it the build falls back to OpenCV DNN).
tools/setup_onnxruntime.sh

build_dir=${STRATA_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build_dir"
echo "setup: built $build_dir/src/app/strata"
