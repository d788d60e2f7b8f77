#!/usr/bin/env bash
# Runs a bundle of scripts/make_bundle.sh on a machine without sparq's
# dependencies, from a checkout of the bundle's commit: every unit test
# program on this machine's CPU (its best ISA: the AMX instantiations run
# where the CPU has AMX), then the end-to-end suite (bench/networks/
# run_suite.py) with the bundle's CLI and layer benchmarks. ONNX Runtime is
# driven through Node where it installs, else through the Python package
# onnxruntime; the networks are generated with the Python that runs the
# suite (it needs numpy and onnx).
#   scripts/run_bundle.sh BUNDLE.tar.xz RESULTS_DIR
#   PYTHON       the interpreter for the suite (default: python3)
#   TEST_JOBS    unit test programs run at once (default: nproc / 4, at least 1)
#   TEST_TIMEOUT seconds per unit test program (default: 600)
#   SUITE=0      tests only; other settings (NETWORKS, KS, THREADS, ROUNDS, ...)
#                go to run_suite.py as in scripts/bench_networks.sh
# Writes RESULTS_DIR/machine.txt, unit_tests.txt (one line per program, then
# the failures' output) and the suite's REPORT.md, raw.json and plot.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ $# -ne 2 ]]; then
  echo "usage: scripts/run_bundle.sh BUNDLE.tar.xz RESULTS_DIR" >&2
  exit 2
fi
bundle_file=$1
results=$(mkdir -p "$2" && cd "$2" && pwd)
python=${PYTHON:-python3}
bundle=$(mktemp -d)
trap 'rm -rf "$bundle"' EXIT
# Python's tarfile where the xz tool is missing (minimal images).
if command -v xz >/dev/null; then
  unpack() { xz -dc "$bundle_file" | tar -C "$bundle" -xf -; }
else
  unpack() { "$python" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
    "$bundle_file" "$bundle"; }
fi
unpack || {
  echo "run_bundle.sh: cannot unpack $bundle_file" >&2
  exit 1
}
commit=$(head -1 "$bundle/COMMIT")
echo "run_bundle.sh: bundle of commit $commit" >&2

{
  echo "commit: $(cat "$bundle/COMMIT" | tr '\n' ' ')"
  echo "date: $(date -u +%FT%TZ)"
  grep -m1 '^model name' /proc/cpuinfo
  echo "logical CPUs: $(nproc)"
  echo "ISA flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
    grep -E '^(avx2|avx512f|avx512bw|avx512_vnni|avx_vnni|amx_tile|amx_int8|amx_bf16)$' | tr '\n' ' ')"
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "python: $("$python" --version 2>&1)"
} >"$results/machine.txt"
cat "$results/machine.txt" >&2

# The unit tests read committed files under the source path compiled into
# them; point that path at this checkout when it does not exist here.
source_dir=$(cat "$bundle/SOURCE_DIR")
if [[ ! -e "$source_dir" ]]; then
  mkdir -p "$(dirname "$source_dir")" && ln -s "$root" "$source_dir" ||
    echo "run_bundle.sh: cannot link $source_dir to $root: tests reading committed files will fail" >&2
fi

jobs=${TEST_JOBS:-$(($(nproc) / 4))}
((jobs >= 1)) || jobs=1
timeout_s=${TEST_TIMEOUT:-600}
log=$(mktemp -d)
start=$(date +%s)
export log timeout_s
ls "$bundle/tests" | xargs -P "$jobs" -I{} sh -c '
  t0=$(date +%s)
  timeout "$timeout_s" "$0/{}" --gtest_brief=1 >"$log/{}.out" 2>&1
  rc=$?
  echo "{} exit $rc in $(( $(date +%s) - t0 )) s: $(grep -E "^\[  (PASSED|FAILED|SKIPPED) " "$log/{}.out" | tr "\n" " ")" >"$log/{}.line"
' "$bundle/tests"
failed=0
{
  echo "unit test programs on $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2-), $jobs at a time," \
    "$(($(date +%s) - start)) s in all"
  for f in "$log"/*.line; do cat "$f"; done
  for f in "$log"/*.line; do
    name=$(basename "$f" .line)
    if ! grep -q ' exit 0 ' "$f"; then
      failed=$((failed + 1))
      echo
      echo "== $name (output tail)"
      tail -40 "$log/$name.out"
    fi
  done
} >"$results/unit_tests.txt"
rm -rf "$log"
echo "run_bundle.sh: $failed unit test program(s) failed; $results/unit_tests.txt" >&2

suite_rc=0
if [[ "${SUITE:-1}" != 0 ]]; then
  unset OMP_WAIT_POLICY
  settings=$(env | grep -E '^(NETWORKS|KS|THREADS|ROUNDS|MIN_TIME|MIN_RUNS|BATCH_MIN_RUNS|LAYERS|SCALES|SPARQ_ISA)=' |
    sort | tr '\n' ' ')
  export SPARQ_SUITE_COMMAND="${settings}scripts/run_bundle.sh"
  BUILD_DIR="$bundle/build" SPARQ="$bundle/build/tools/cli/sparq" SPARQ_COMMIT="$commit" \
    OUT_DIR="$results" WORK_DIR="${WORK_DIR:-$bundle/work}" "$python" "$root/bench/networks/run_suite.py"
  suite_rc=$?
fi
((failed == 0 && suite_rc == 0))
