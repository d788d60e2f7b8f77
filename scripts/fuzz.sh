#!/usr/bin/env bash
# Fuzzes, each for a bounded time, with libFuzzer:
#   model_loader_fuzz  .sparq bytes -> load, resave, a session under small
#                      limits and one run on the reference and CPU backends
#   image_decode_fuzz  image bytes -> decode, preprocess
#   idx_reader_fuzz    IDX bytes (plain and gzip) -> images, labels
#   onnx_import_fuzz   ONNX bytes -> import (float and w4a4), resave; seeded
#                      with the committed fixtures under 64 KiB
#   scripts/fuzz.sh [seconds per target] [extra libFuzzer flags...]   (default 30 s)
# Configures and builds a separate clang build (build-fuzz/, or
# $SPARQ_FUZZ_BUILD_DIR) with the whole library under ASan + UBSan, writes
# seed corpora, then runs each fuzzer. Fails (non-zero exit) on any finding:
# a crash, a sanitizer report, a leak, an exception other than sparq::Error,
# a timeout or running over the memory limit. A reproducer is left in
# <build>/fuzz/artifacts/; replay it with <build>/tests/fuzz/<target> <artifact>
set -euo pipefail

seconds=${1:-30}
shift || true
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "fuzz.sh: the time limit must be a positive number of seconds, got '$seconds'" >&2
  exit 2
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SPARQ_FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${SPARQ_FUZZ_JOBS:-$(nproc)}
targets=(model_loader_fuzz image_decode_fuzz idx_reader_fuzz onnx_import_fuzz)

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSPARQ_FUZZ=ON -DSPARQ_BUILD_TOOLS=OFF -DSPARQ_BUILD_BENCH=OFF -DSPARQ_BUILD_EXAMPLES=OFF \
  -DSPARQ_WITH_TORCH=OFF >/dev/null
cmake --build "$build" --target "${targets[@]}" write_seed_corpus -j "$jobs"

work=$build/fuzz
seeds=$work/seeds          # rewritten every run: always the current format
artifacts=$work/artifacts
rm -rf "$seeds"
mkdir -p "$artifacts"
"$build/tests/fuzz/write_seed_corpus" "$seeds"
# The ONNX importer starts from the committed fixtures small enough to mutate.
mkdir -p "$seeds/onnx"
find "$root/tests/onnx/fixtures" -name '*.onnx' -size -64k -exec cp {} "$seeds/onnx" \;

declare -A seed_dir=([model_loader_fuzz]=models [image_decode_fuzz]=images [idx_reader_fuzz]=idx
  [onnx_import_fuzz]=onnx)
declare -A max_len=([model_loader_fuzz]=32768 [image_decode_fuzz]=32768 [idx_reader_fuzz]=32768
  [onnx_import_fuzz]=65536)
for target in "${targets[@]}"; do
  corpus=$work/corpus/$target  # what the fuzzer found interesting; kept across runs
  mkdir -p "$corpus"
  echo "fuzz.sh: fuzzing $target for ${seconds} s (corpus $corpus)"
  # -rss_limit_mb: a model or file that makes sparq allocate past its own
  # limits (64 MiB per run in the model target) is a finding, not a swap storm.
  "$build/tests/fuzz/$target" "$corpus" "$seeds/${seed_dir[$target]}" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="${max_len[$target]}" \
    -artifact_prefix="$artifacts/$target-" -print_final_stats=1 "$@"
done
echo "fuzz.sh: no findings in ${seconds} s per target"
