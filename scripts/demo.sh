#!/usr/bin/env bash
# The main job: builds the example classifier and runs the shipped Fashion-MNIST
# model on the 10,000-image test set, printing accuracy, images/s on the CPU
# backend and the chip model's estimate for the same run. Extra arguments go to
# the classifier (e.g. --limit 1000, --model examples/models/<other>.sparq).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release --target classify -j"$(nproc)" >/dev/null
exec build/release/examples/classify/classify "$@"
