#!/usr/bin/env bash
# Reproduces the models shipped in examples/models/ (fashion_k9, fashion_k3,
# fashion_k1): one small all-3x3 CNN trained dense on Fashion-MNIST, pruned
# gradually 9 -> 3 -> 1 taps per kernel with fine-tuning between rounds, and
# quantization-aware fine-tuned for w4a8 before each export. Each step's wall
# time goes to the log. Usage:
#   tools/training/ship_fashion_models.sh [SPARQ_TRAIN] [WORK_DIR] [OUT_DIR]
set -euo pipefail
bin=${1:-build/tools/training/sparq-train}
work=${2:-build/ship-models}
out=${3:-examples/models}
width=${WIDTH:-16}
dense_epochs=${DENSE_EPOCHS:-3}
round_epochs=${ROUND_EPOCHS:-0.5}
qat_epochs=${QAT_EPOCHS:-0.25}
seed=${SEED:-1}
mkdir -p "$work" "$out"
run() {
  local start=$SECONDS
  echo "+ $*"
  "$@"
  echo "  ($((SECONDS - start)) s)"
}
t=(--threads 2)
run "$bin" "${t[@]}" train --arch cnn --width "$width" --epochs "$dense_epochs" --seed "$seed" \
  --out "$work/dense.pt"
# k = 9: quantization-aware fine-tuning only.
run "$bin" "${t[@]}" prune --in "$work/dense.pt" --out "$work/k9_w4a8.pt" --k 9 \
  --qat-epochs "$qat_epochs" --act-bits 8 --seed "$seed"
run "$bin" "${t[@]}" export --in "$work/k9_w4a8.pt" --out "$out/fashion_k9.sparq" --act-bits 8
# 9 -> 3, then QAT on a copy; 3 -> 1 continues from the fp32 k = 3 weights.
run "$bin" "${t[@]}" prune --in "$work/dense.pt" --out "$work/k3.pt" --k 3 \
  --round-epochs "$round_epochs" --qat-epochs 0 --seed "$seed"
run "$bin" "${t[@]}" prune --in "$work/k3.pt" --out "$work/k3_w4a8.pt" --k 3 \
  --qat-epochs "$qat_epochs" --act-bits 8 --seed "$seed"
run "$bin" "${t[@]}" export --in "$work/k3_w4a8.pt" --out "$out/fashion_k3.sparq" --act-bits 8
run "$bin" "${t[@]}" prune --in "$work/k3.pt" --out "$work/k1.pt" --k 1 \
  --round-epochs "$round_epochs" --qat-epochs 0 --seed "$seed"
run "$bin" "${t[@]}" prune --in "$work/k1.pt" --out "$work/k1_w4a8.pt" --k 1 \
  --qat-epochs "$qat_epochs" --act-bits 8 --seed "$seed"
run "$bin" "${t[@]}" export --in "$work/k1_w4a8.pt" --out "$out/fashion_k1.sparq" --act-bits 8
echo "total ${SECONDS} s"
