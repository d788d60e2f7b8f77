#!/usr/bin/env bash
# Installs the Debian packages sparq builds, tests and runs with.
# Idempotent: when every package is already present it returns in well under a second.
set -euo pipefail

packages=(
  # toolchain and test tooling
  cmake g++ clang libclang-rt-14-dev clang-format ninja-build pkg-config
  # unpacking and patching Debian's oneTBB source for the TSan build (scripts/build-tbb-tsan.sh)
  patch xz-utils
  # the agreed core
  libtbb-dev libeigen3-dev libxsimd-dev libgtest-dev libgmock-dev libbenchmark-dev
  # model file, command line, images, JSON
  libflatbuffers-dev flatbuffers-compiler libcli11-dev libstb-dev nlohmann-json3-dev zlib1g-dev
  # ONNX import (importers/onnx): the ONNX protobuf schema and protobuf
  libonnx-dev libprotobuf-dev protobuf-compiler
  # oracles and peers (tests and benchmarks only), training tools
  libdnnl-dev libtorch-dev
  # dnnl-config.cmake (Debian builds oneDNN with the OpenCL GPU runtime) finds OpenCL
  ocl-icd-opencl-dev opencl-headers
  # the Python package (pybind11, for Debian's python3), its tests and the Dask example
  pybind11-dev python3-dev python3-numpy python3-pytest python3-dask python3-distributed
  # real data
  dataset-fashion-mnist
)

# --bench: also what the end-to-end benchmark (scripts/bench_networks.sh)
# needs: the onnx Python package that writes its networks, and Node with npm
# for ONNX Runtime's npm package. A Node from another repository may bundle
# npm, so Debian's nodejs and npm are added only when there is no npm.
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(python3-onnx)
  command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
elif (($# > 0)); then
  echo "usage: install-deps.sh [--bench]" >&2
  exit 2
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
