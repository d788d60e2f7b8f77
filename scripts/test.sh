#!/usr/bin/env bash
# The one command that installs, builds and runs every test of sparq:
#   1. Debian dependencies (scripts/install-deps.sh, fast when present)
#   2. sanitizer build (ASan + UBSan) of the unit tests, run
#   3. ThreadSanitizer build of the unit tests against an instrumented oneTBB
#      (scripts/tsan.sh; oneTBB is built once per machine from Debian's source)
#   4. bounded fuzzing (libFuzzer, clang): the model loader and a run under
#      limits, the image readers, the IDX reader, the ONNX importer;
#      SPARQ_FUZZ_SECONDS each (default 30, so 120 s of fuzzing in all)
#   5. release build of everything (library, tools, examples, benchmarks, tests), ctest
# The log ends with ctest's summary of the release run.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
fuzz_seconds=${SPARQ_FUZZ_SECONDS:-30}

bash scripts/install-deps.sh

# Reuse earlier compiles where the machine has ccache (not required).
if command -v ccache >/dev/null; then
  export CMAKE_C_COMPILER_LAUNCHER=${CMAKE_C_COMPILER_LAUNCHER:-ccache}
  export CMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER:-ccache}
fi

echo "== sanitizer build (ASan + UBSan): unit tests"
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPARQ_SANITIZE=ON \
  -DSPARQ_WITH_TORCH=OFF -DSPARQ_BUILD_TOOLS=OFF -DSPARQ_BUILD_BENCH=OFF \
  -DSPARQ_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan -L unit --output-on-failure -j"$jobs"

echo "== thread sanitizer build (TSan, instrumented oneTBB): unit tests"
bash scripts/tsan.sh

echo "== fuzzing: model loader and run, image readers, IDX reader, ONNX importer, ${fuzz_seconds} s each"
bash scripts/fuzz.sh "$fuzz_seconds"

echo "== release build: everything"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$jobs"
ctest --test-dir build/release --output-on-failure -j"$jobs"
