#!/usr/bin/env bash
# Runs the sparse 3x3 convolution benchmark (sparq next to oneDNN, interleaved
# in one process) and writes bench/RESULTS.md. oneDNN's int8 is measured twice:
# with its best ISA (in the main run) and pinned to AVX512-VNNI (a second
# process, since oneDNN reads ONEDNN_MAX_CPU_ISA once per process).
#   BUILD_DIR  build tree (default: build)      REPS      repetitions (default 15)
#   MIN_TIME   seconds per repetition (0.02)     FILTER    benchmark regex (all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
reps=${REPS:-15}
min_time=${MIN_TIME:-0.02}
filter=${FILTER:-.}

cmake --build "$build" --target sparse_conv_bench
# oneDNN (libgomp) and sparq (oneTBB) take turns in one process: libgomp's idle
# workers would otherwise spin on a core for a while after each oneDNN call,
# stealing it from sparq's 2-thread runs (and TBB's from oneDNN's). Passive
# waiting costs each 2-thread call one wake-up, a few microseconds.
export OMP_WAIT_POLICY=PASSIVE
out="$build/bench"  # the raw JSON stays next to the binary for re-tabulation
common=(--benchmark_repetitions="$reps" --benchmark_min_time="$min_time"
        --benchmark_enable_random_interleaving=true --benchmark_out_format=json)

"$build/bench/sparse_conv_bench" "${common[@]}" --benchmark_filter="$filter" \
  --benchmark_out="$out/main.json" >/dev/null
ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI "$build/bench/sparse_conv_bench" "${common[@]}" \
  --benchmark_filter="onednn_int8.*($filter)" --benchmark_out="$out/vnni.json" >/dev/null

python3 "$root/scripts/bench_table.py" "$out/main.json" "$out/vnni.json" >"$root/bench/RESULTS.md"
echo "wrote $root/bench/RESULTS.md"
