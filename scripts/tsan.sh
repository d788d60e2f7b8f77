#!/usr/bin/env bash
# ThreadSanitizer run of the tests about threads: sessions and models shared
# across caller threads, layers split over oneTBB workers, the thread cap,
# every op on every backend with 1-3 threads, the spin team of batch-1 runs,
# the sparse kernels' paths at any thread count:
#   1. an instrumented oneTBB of the installed version (scripts/build-tbb-tsan.sh,
#      cached per machine)
#   2. a TSan build of the library and unit tests in build/tsan/ (or
#      $SPARQ_TSAN_BUILD_DIR)
#   3. the race canary, which must be reported: proof that the build sees
#      races between oneTBB tasks
#   4. those tests under TSan; any report fails the run
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SPARQ_TSAN_BUILD_DIR:-$root/build/tsan}
jobs=$(nproc)

tbb_prefix=$(bash "$root/scripts/build-tbb-tsan.sh")
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPARQ_SANITIZE_THREAD=ON \
  -DTBB_DIR="$tbb_prefix/lib/cmake/TBB" -DSPARQ_WITH_TORCH=OFF -DSPARQ_BUILD_TOOLS=OFF \
  -DSPARQ_BUILD_BENCH=OFF -DSPARQ_BUILD_EXAMPLES=OFF >/dev/null
tests=(concurrency_test session_test batch_chunks_test capped_parallel_test spin_team_test backend_agreement_test
  sparse_conv3x3_kernels_test cpu_ops_test imported_ops_test)
cmake --build "$build" -j "$jobs" --target tsan_race_canary "${tests[@]}"

# exitcode=66 (TSan's default) marks a report; halt_on_error stops at the first.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 exitcode=66"

set +e
canary_log=$("$build/tests/tsan/tsan_race_canary" 2>&1)
canary_rc=$?
set -e
if [[ $canary_rc -ne 66 ]] || ! grep -q "WARNING: ThreadSanitizer: data race" <<<"$canary_log"; then
  echo "tsan.sh: the race canary was not reported (exit $canary_rc); TSan cannot see races" \
    "between oneTBB tasks, so a clean run would mean nothing" >&2
  echo "$canary_log" >&2
  exit 1
fi
echo "tsan.sh: race canary reported as expected"

for t in "${tests[@]}"; do
  echo "tsan.sh: $t"
  "$build/tests/$t" --gtest_brief=1
done
echo "tsan.sh: ${#tests[@]} test programs clean under ThreadSanitizer"
