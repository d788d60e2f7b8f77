#!/usr/bin/env bash
# Bring your own model, end to end on a slice of Fashion-MNIST: a small CNN
# exported by torch.onnx.export (trained for one epoch, committed fixture)
# -> sparq import -> sparq-train prune to k = 3 with fine-tuning and QAT ->
# export -> sparq eval on the cpu and device backends. Checks that the
# exported 3x3 layers are sparse with k = 3, that the runtime agrees with the
# libtorch twin on every test image, and that the accuracy stays far above
# chance (10 %): the imported model starts near 80 % and the short schedule
# fine-tunes it after every pruning round.
# Usage: import_test.sh SPARQ SPARQ_TRAIN FIXTURE.onnx WORK_DIR
set -euo pipefail
sparq=$1
train=$2
onnx=$3
work=$4
data=/usr/share/datasets/fashion-mnist
if [[ ! -e $data/t10k-images-idx3-ubyte.gz ]]; then
  echo "dataset-fashion-mnist is not installed; skipping"
  exit 77
fi
rm -rf "$work"
mkdir -p "$work"
slice=(--train-limit 2048 --test-limit 300)
accuracy() { # MODEL BACKEND -> accuracy in percent on the first 300 test images
  "$sparq" eval --json --no-progress --limit 300 --backend "$2" "$1" \
    "$data/t10k-images-idx3-ubyte.gz" | /usr/bin/python3 -c \
    'import json, sys; print(round(100 * json.load(sys.stdin)["accuracy"], 2))'
}
above() { /usr/bin/python3 -c "import sys; sys.exit(0 if $1 > $2 else 1)"; }

# The model was trained on pixel / 255: say so once, at import.
"$sparq" import "$onnx" -o "$work/imported.sparq" --preprocess scale=0.003921569
float_accuracy=$(accuracy "$work/imported.sparq" reference)
echo "imported float model: $float_accuracy %"
above "$float_accuracy" 60

"$train" prune "${slice[@]}" --model "$work/imported.sparq" --preprocess model --k 3 \
  --round-epochs 1 --round-max-steps 6 --qat-max-steps 10 --out "$work/k3.pt"
"$train" eval "${slice[@]}" --in "$work/k3.pt"
"$train" export --test-limit 300 --in "$work/k3.pt" --out "$work/k3.sparq"
# 300 images: 0.1 points is less than one image, so the runtime must agree
# with the twin on every image.
"$train" verify --test-limit 300 --model "$work/k3.sparq" --tolerance 0.1

# Every 3x3 convolution after the first is sparse with k = 3.
"$sparq" inspect --json "$work/k3.sparq" | /usr/bin/python3 -c '
import json, sys
layers = json.load(sys.stdin)["layers"]
sparse = [l for l in layers if l["op"] == "sparse_conv3x3"]
assert len(sparse) == 2, layers
assert all(l["density"] == 3 for l in sparse), sparse
'
cpu=$(accuracy "$work/k3.sparq" cpu)
device=$(accuracy "$work/k3.sparq" device)
echo "k=3 w4a8: cpu $cpu %, device $device %"
test "$cpu" = "$device"
above "$cpu" 50

# Shared tap patterns (4 output x 2 input channels) and 4-bit activations.
"$train" prune "${slice[@]}" --model "$work/imported.sparq" --k 3 --sharing 4x2 --act-bits 4 \
  --round-max-steps 3 --qat-max-steps 4 --out "$work/k3_shared.pt"
"$train" export --test-limit 300 --in "$work/k3_shared.pt" --out "$work/k3_shared.sparq" --act-bits 4
"$train" verify --test-limit 300 --model "$work/k3_shared.sparq" --tolerance 0.1
"$sparq" inspect --json "$work/k3_shared.sparq" | /usr/bin/python3 -c '
import json, sys
sparse = [l for l in json.load(sys.stdin)["layers"] if l["op"] == "sparse_conv3x3"]
assert len(sparse) == 2, sparse
assert all(l["density"] == 3 and l["sharing"] == "4x2" for l in sparse), sparse
'

# A checkpoint of an imported model rebuilds the same module: exporting it
# again gives the same layers.
"$train" export --test-limit 300 --in "$work/k3.pt" --out "$work/k3_again.sparq"
layers() { "$sparq" inspect --json "$1" | /usr/bin/python3 -c \
  'import json, sys; print(json.dumps(json.load(sys.stdin)["layers"]))'; }
test "$(layers "$work/k3.sparq")" = "$(layers "$work/k3_again.sparq")"

# Dense fine-tuning of the imported model first, then pruning from that checkpoint.
"$train" train "${slice[@]}" --model "$work/imported.sparq" --preprocess dataset --epochs 1 \
  --max-steps 3 --lr 0.005 --out "$work/tuned.pt"
"$train" prune "${slice[@]}" --in "$work/tuned.pt" --k 8 --round-max-steps 2 --qat-max-steps 2 \
  --out "$work/tuned_k8.pt"
"$train" export --test-limit 300 --in "$work/tuned_k8.pt" --out "$work/tuned_k8.sparq"
"$train" verify --test-limit 300 --model "$work/tuned_k8.sparq" --tolerance 0.1

# Wrong input sizes and bad preprocessing are refused with the reason.
expect_error() {
  local pattern=$1
  shift
  if out=$("$@" 2>&1); then
    echo "expected failure: $*"
    exit 1
  fi
  if ! grep -q -- "$pattern" <<<"$out"; then
    echo "expected '$pattern' in: $out"
    exit 1
  fi
}
expect_error "--preprocess: mean has 2 values" "$train" prune "${slice[@]}" \
  --model "$work/imported.sparq" --preprocess mean=0.1/0.2 --out "$work/x.pt"
expect_error "training needs a float model" "$train" prune "${slice[@]}" \
  --model "$work/k3.sparq" --out "$work/x.pt"
for dir in "$work"/small/{train,test}/{a,b}; do
  mkdir -p "$dir"
  printf 'P5\n16 16\n255\n%0256d' 0 >"$dir/0.pgm"
done
expect_error "does not fit model" "$train" train --format folder --data "$work/small" \
  --model "$work/imported.sparq" --out "$work/x.pt" --max-steps 1
echo "import pipeline test passed"
