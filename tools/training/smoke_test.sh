#!/usr/bin/env bash
# End-to-end check of every sparq-train stage on a small slice of
# Fashion-MNIST (a few optimizer steps each): train, prune with resume, QAT,
# export, runtime verification (exact agreement with the libtorch twin on the
# slice), the study with its report and plot, and clear errors for bad input.
# Usage: smoke_test.sh SPARQ_TRAIN WORK_DIR
set -euo pipefail
bin=$1
work=$2
data=/usr/share/datasets/fashion-mnist
if [[ ! -e $data/t10k-images-idx3-ubyte.gz ]]; then
  echo "dataset-fashion-mnist is not installed; skipping"
  exit 77
fi
rm -rf "$work"
mkdir -p "$work"
slice=(--train-limit 512 --test-limit 200)

"$bin" train "${slice[@]}" --arch cnn --width 4 --epochs 1 --max-steps 3 --out "$work/dense.pt"
"$bin" prune "${slice[@]}" --in "$work/dense.pt" --out "$work/k7.pt" --k 7 --sharing 4x2 \
  --round-max-steps 2 --qat-max-steps 2 --act-bits 4
"$bin" eval "${slice[@]}" --in "$work/k7.pt"
for bits in 8 4; do
  "$bin" export --test-limit 200 --in "$work/k7.pt" --out "$work/k7_a$bits.sparq" --act-bits $bits
  # 200 images: 0.1 points is less than one image, so the runtime must agree
  # with the twin on every image's class count.
  "$bin" verify --test-limit 200 --model "$work/k7_a$bits.sparq" --tolerance 0.1
done

"$bin" study "${slice[@]}" --width 4 --dense-epochs 1 --dense-max-steps 2 --round-max-steps 1 \
  --qat-max-steps 1 --round-epochs 1,1,1,1,1,1,1,2 --batch 64 --sharing 4x2 --work-dir "$work/study" --report "$work/STUDY.md"
test -s "$work/STUDY.md"
grep -q "<svg" "$work/STUDY.svg"
grep -q "| 1 | 11% |" "$work/STUDY.md"
test -s "$work/study/s4x2_k1_w4a4.sparq"
"$bin" verify --test-limit 200 --model "$work/study/s4x2_k1_w4a8.sparq"

# Every architecture builds, trains, prunes, exports and runs on the runtime
# with the twin's accuracy (a step or two each, at width 4).
for arch in vgg resnet20 resnet18; do
  "$bin" train "${slice[@]}" --arch $arch --width 4 --epochs 1 --max-steps 2 --out "$work/$arch.pt"
  "$bin" prune "${slice[@]}" --in "$work/$arch.pt" --out "$work/${arch}_k5.pt" --k 5 \
    --round-max-steps 1 --qat-max-steps 1
  "$bin" export --test-limit 200 --in "$work/${arch}_k5.pt" --out "$work/$arch.sparq"
  "$bin" verify --test-limit 200 --model "$work/$arch.sparq" --tolerance 0.1
done

# Image folders: a slice written as PNG files trains and evaluates like the
# original; the loader rejects broken folders.
"$bin" export-images "${slice[@]}" --out "$work/images"
test "$(find "$work/images/train" -name '*.png' | wc -l)" -eq 512
test "$(find "$work/images/test" -name '*.png' | wc -l)" -eq 200
test -d "$work/images/train/Ankle_boot"
"$bin" train --format folder --data "$work/images" --width 4 --epochs 1 --max-steps 2 \
  --out "$work/folder.pt"
"$bin" eval --format folder --data "$work/images" --in "$work/folder.pt"

# Bad input must fail with a message naming the problem.
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
expect_error "unknown architecture 'nope'" "$bin" train "${slice[@]}" --arch nope --out "$work/x.pt"
expect_error "--sharing '3y'" "$bin" prune "${slice[@]}" --in "$work/dense.pt" --out "$work/x.pt" --sharing 3y
expect_error "--k must be 1..9" "$bin" prune "${slice[@]}" --in "$work/dense.pt" --out "$work/x.pt" --k 0
expect_error "takes 1 value (every round) or 8" "$bin" study "${slice[@]}" --round-epochs 1,2 \
  --work-dir "$work/x" --report "$work/x.md"
expect_error "not a directory" "$bin" train --data "$work/none" --out "$work/x.pt"
expect_error "sparq-train checkpoint" "$bin" eval "${slice[@]}" --in "$work/k7_a8.sparq"
mkdir -p "$work/bad"
printf 'xxxxxxxxxxxx' >"$work/bad/train-images-idx3-ubyte"
cp "$data/train-labels-idx1-ubyte.gz" "$work/bad/"
cp -r "$work/images" "$work/images_extra_class"
mkdir "$work/images_extra_class/test/Extra"
expect_error "same class subfolders" "$bin" eval --format folder --data "$work/images_extra_class" \
  --in "$work/folder.pt"
cp -r "$work/images" "$work/images_odd_size"
printf 'P5\n5 5\n255\n%025d' 0 >"$work/images_odd_size/train/Bag/odd.pgm"
expect_error "resize the images" "$bin" train --format folder --data "$work/images_odd_size" \
  --out "$work/x.pt"
printf 'not a png' >"$work/images_odd_size/train/Bag/broken.png"
rm "$work/images_odd_size/train/Bag/odd.pgm"
expect_error "broken.png" "$bin" train --format folder --data "$work/images_odd_size" \
  --out "$work/x.pt"
expect_error "no 'train' subfolder" "$bin" train --format folder --data "$work/images/test" \
  --out "$work/x.pt"
expect_error "not empty" "$bin" export-images "${slice[@]}" --out "$work/images"
expect_error "bad magic number" "$bin" train --data "$work/bad" --out "$work/x.pt"
echo "training smoke test passed"
