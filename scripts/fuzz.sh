#!/usr/bin/env bash
# Fuzzes the .sparq model loader, then the ONNX importer, with libFuzzer for
# a bounded time each.
#   scripts/fuzz.sh [seconds] [extra libFuzzer flags...]     (default 60 s)
# The ONNX importer runs for $SPARQ_ONNX_FUZZ_SECONDS (default 30 s).
# Configures and builds a separate clang build (build-fuzz/, or
# $SPARQ_FUZZ_BUILD_DIR) with the whole library under ASan + UBSan, writes
# valid seed models, then runs the fuzzer. Fails (non-zero exit) on any
# finding: a crash, a sanitizer report, a leak, an exception other than
# sparq::Error, a timeout or running out of memory. A reproducer is left in
# <build>/fuzz/artifacts/; replay it with
#   <build>/tests/fuzz/model_loader_fuzz <artifact>   (or onnx_import_fuzz)
set -euo pipefail

seconds=${1:-60}
shift || true
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "fuzz.sh: the time limit must be a positive number of seconds, got '$seconds'" >&2
  exit 2
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SPARQ_FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${SPARQ_FUZZ_JOBS:-$(nproc)}

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSPARQ_FUZZ=ON -DSPARQ_BUILD_TOOLS=OFF -DSPARQ_BUILD_BENCH=OFF -DSPARQ_BUILD_EXAMPLES=OFF \
  -DSPARQ_WITH_TORCH=OFF >/dev/null
onnx_seconds=${SPARQ_ONNX_FUZZ_SECONDS:-30}
cmake --build "$build" --target model_loader_fuzz write_seed_corpus onnx_import_fuzz -j "$jobs"

work=$build/fuzz
seeds=$work/seeds          # rewritten every run: always the current format
corpus=$work/corpus        # what the fuzzer found interesting; kept across runs
artifacts=$work/artifacts
rm -rf "$seeds"
mkdir -p "$corpus" "$artifacts"
"$build/tests/fuzz/write_seed_corpus" "$seeds"

echo "fuzz.sh: fuzzing the model loader for ${seconds} s (corpus $corpus)"
"$build/tests/fuzz/model_loader_fuzz" "$corpus" "$seeds" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=32768 \
  -artifact_prefix="$artifacts/" -print_final_stats=1 "$@"
echo "fuzz.sh: no findings in ${seconds} s"

# The ONNX importer, seeded with the committed fixtures small enough to mutate.
onnx_seeds=$work/onnx_seeds
onnx_corpus=$work/onnx_corpus
rm -rf "$onnx_seeds"
mkdir -p "$onnx_seeds" "$onnx_corpus"
find "$root/tests/onnx/fixtures" -name '*.onnx' -size -64k -exec cp {} "$onnx_seeds" \;
echo "fuzz.sh: fuzzing the ONNX importer for ${onnx_seconds} s (corpus $onnx_corpus)"
"$build/tests/fuzz/onnx_import_fuzz" "$onnx_corpus" "$onnx_seeds" \
  -max_total_time="$onnx_seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -artifact_prefix="$artifacts/" -print_final_stats=1 "$@"
echo "fuzz.sh: no findings in the ONNX importer in ${onnx_seconds} s"
