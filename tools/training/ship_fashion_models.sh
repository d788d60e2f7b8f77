#!/usr/bin/env bash
# Reproduces examples/models/ and docs/STUDY.md: runs the Fashion-MNIST study
# (cnn width 32, 140,458 weights: dense, then gradual pruning 9 -> 1 taps per
# 3x3 kernel for the chip's per-kernel rule and for 16x4 shared patterns, QAT
# and an export for every k and activation width), then copies the models
# worth shipping. About 75 minutes on the 2-vCPU development machine.
# Usage: tools/training/ship_fashion_models.sh [SPARQ_TRAIN] [WORK_DIR] [OUT_DIR] [REPORT]
set -euo pipefail
bin=${1:-build/release/tools/training/sparq-train}
work=${2:-build/study}
out=${3:-examples/models}
report=${4:-docs/STUDY.md}
mkdir -p "$work" "$out"
start=$SECONDS
"$bin" --threads 2 study --width 32 --batch 64 --dense-epochs 20 \
  --round-epochs 1,1,1,1,1.5,2,2.5,4 --qat-epochs 0.5 --sharing 1x1,16x4 --seed 1 \
  --work-dir "$work" --report "$report" | tee "$work/study.log"
cp "$work/k9_w4a8.sparq" "$out/fashion_k9.sparq"
cp "$work/s1x1_k3_w4a8.sparq" "$out/fashion_k3.sparq"
cp "$work/s1x1_k1_w4a8.sparq" "$out/fashion_k1.sparq"
cp "$work/s1x1_k1_w4a4.sparq" "$out/fashion_k1_w4a4.sparq"
cp "$work/s16x4_k1_w4a8.sparq" "$out/fashion_k1_shared16x4.sparq"
echo "study and models in $((SECONDS - start)) s"
