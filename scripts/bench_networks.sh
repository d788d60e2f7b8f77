#!/usr/bin/env bash
# The end-to-end benchmark in one command: builds what it runs (the sparq CLI,
# the two layer benchmarks and the core-to-core probe), installs ONNX Runtime
# for Node when missing, generates and imports the networks, measures sparq next to ONNX Runtime
# (fp32 and static int8 QDQ) and oneDNN int8, and writes bench/results/
# (REPORT.md, speedup_vs_density.svg, raw.json). About 10-20 minutes on a
# 2-core machine; QUICK=1 is a smoke run of about a minute.
#   BUILD_DIR  build tree (default: build/release)   QUICK=1  smoke run
#   NETWORKS   resnet18,resnet20,vgg11,mobilenet_v1,fashion   KS  9,5,3,1
#   THREADS    1,2    ROUNDS  3    MIN_TIME  0.1 (s per peer per round)
#   MIN_RUNS   2      BATCH_MIN_RUNS  5 (batch > 1)   LAYERS=0 skips the oneDNN layers
#   OUT_DIR    bench/results      WORK_DIR  BUILD_DIR/bench_networks
#   REUSE_MODELS=1 keeps generated networks   NICE  niceness, e.g. -20 (root)
#   PIN=0 leaves 1-thread runs to the scheduler (default: round r on CPU r mod N)
# Further flags go to bench/networks/run_suite.py (see its --help).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export BUILD_DIR=${BUILD_DIR:-$root/build/release}

# The packages the suite needs beyond the test command's (onnx for Python,
# Node with npm); ONNX Runtime itself comes from npm (install-ort.sh).
"$root/scripts/install-deps.sh" --bench >&2

if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
fi
cmake --build "$BUILD_DIR" --target sparq_cli dense_ops_bench sparse_conv_bench core_to_core_bench >&2

# The layer benchmarks' oneDNN rows run at OpenMP's default wait policy: a
# passive policy, which the older bench.sh sets for its mixed process, makes
# oneDNN's 2-thread rows several times slower.
unset OMP_WAIT_POLICY
suite=("/usr/bin/python3" "$root/bench/networks/run_suite.py" "$@")
if [[ -n "${NICE:-}" ]]; then
  exec nice -n "$NICE" "${suite[@]}"
fi
exec "${suite[@]}"
