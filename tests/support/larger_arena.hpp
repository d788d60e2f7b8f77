// Runs a function the way a layer asked for `threads` workers may be run by
// an application: inside a oneTBB arena (and a process-wide limit) several
// times larger than `threads`. A layer that forks more work than its cap
// shows here as extra threads; sized equal to `threads`, the arena would hide
// it.
#pragma once

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>

namespace sparq::testing {

template <typename Fn>
void run_in_larger_arena(int threads, const Fn& fn) {
  const int arena_threads = std::max(threads, 1) * 4;
  tbb::global_control allow(tbb::global_control::max_allowed_parallelism,
                            static_cast<size_t>(arena_threads));
  tbb::task_arena arena(arena_threads);
  arena.execute(fn);
}

}  // namespace sparq::testing
