#!/usr/bin/env bash
# Installs ONNX Runtime's CPU build for Node (npm package onnxruntime-node),
# the end-to-end peer of bench/networks/, into a per-version cache directory:
#   ${SPARQ_CACHE:-$HOME/.cache/sparq}/onnxruntime-node-<version>/
# Idempotent: a second run only checks that the package is there. The last
# line on stdout is the node_modules directory to put in NODE_PATH.
#   ORT_VERSION  npm version to install (default: the pinned one below)
set -euo pipefail

# Pinned so that runs are comparable; the newest release that loads on the
# Node of Debian 12/13. Its install script only downloads the CUDA/TensorRT
# parts, which we do not use, hence --ignore-scripts.
version=${ORT_VERSION:-1.31.1}
cache=${SPARQ_CACHE:-$HOME/.cache/sparq}
prefix="$cache/onnxruntime-node-$version"
modules="$prefix/node_modules"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install-ort.sh: '$tool' not found; install Debian's nodejs and npm packages" >&2
    exit 1
  fi
done

# The package's own stamp: present only after a completed install.
stamp="$modules/onnxruntime-node/package.json"
if [[ ! -f "$prefix/.complete" || ! -f "$stamp" ]]; then
  mkdir -p "$prefix"
  # A private package.json keeps npm from walking up to an unrelated project.
  [[ -f "$prefix/package.json" ]] || echo '{"name":"sparq-ort-peer","private":true}' >"$prefix/package.json"
  rm -f "$prefix/.complete"
  if ! (cd "$prefix" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error \
    "onnxruntime-node@$version" >&2); then
    echo "install-ort.sh: npm install onnxruntime-node@$version into $prefix failed" \
      "(is the npm registry reachable?)" >&2
    exit 1
  fi
  # Loading the binding proves the native CPU library fits this machine.
  if ! NODE_PATH="$modules" node -e "require('onnxruntime-node')" >&2; then
    echo "install-ort.sh: onnxruntime-node@$version installed but does not load" >&2
    exit 1
  fi
  touch "$prefix/.complete"
fi
echo "$modules"
