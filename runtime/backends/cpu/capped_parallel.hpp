// The one way sparq runs work items on several threads: at most `workers`
// oneTBB tasks, each pulling items from a shared counter until none are left.
// The cap holds whatever arena the caller runs in: a layer asked to use two
// threads never occupies more than two, even inside a 16-thread arena (a
// plain tbb::parallel_for over the items would spread them over the whole
// arena). Pulling items one grain at a time still balances uneven items.
//
// On a thread that leads a SpinTeam (a session's run of one chunk on several
// threads) the same ranges go to the team's awake threads instead, each
// taking a fixed contiguous share.
//
// Callers give every item its own outputs, computed the same way whichever
// worker runs it, so results never depend on the worker count or the order.
#pragma once

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "runtime/backends/cpu/spin_team.hpp"

namespace sparq::cpu {

// Runs body(worker, begin, end) over consecutive ranges of [0, items), each
// at most `grain` long, on at most `workers` concurrent oneTBB tasks.
// `worker` is in [0, min(workers, ranges)) and no two concurrent calls share
// one, so a body may index per-worker storage with it. With one worker (or
// one range) everything runs on the calling thread, in order.
template <typename Body>
void run_capped(int64_t items, int workers, int64_t grain, const Body& body) {
  if (items <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t ranges = (items + grain - 1) / grain;
  const int used = static_cast<int>(std::clamp<int64_t>(ranges, 1, std::max(workers, 1)));
  if (used == 1) {
    body(0, int64_t{0}, items);
    return;
  }
  if (SpinTeam* team = SpinTeam::led_by_this_thread()) {
    team->run(
        used, items, grain,
        [](const void* b, int worker, int64_t begin, int64_t end) {
          (*static_cast<const Body*>(b))(worker, begin, end);
        },
        &body);
    return;
  }
  std::atomic<int64_t> next{0};
  tbb::parallel_for(
      tbb::blocked_range<int>(0, used, 1),
      [&](const tbb::blocked_range<int>& r) {
        for (int worker = r.begin(); worker != r.end(); ++worker) {
          for (;;) {
            const int64_t begin = next.fetch_add(grain, std::memory_order_relaxed);
            if (begin >= items) break;
            body(worker, begin, std::min(begin + grain, items));
          }
        }
      },
      tbb::simple_partitioner());
}

// The grain that gives each of `workers` about `per_worker` ranges of
// [0, items): small enough to balance, large enough to amortise the pull.
inline int64_t balanced_grain(int64_t items, int workers, int per_worker = 4) {
  const int64_t ranges = int64_t{std::max(workers, 1)} * std::max(per_worker, 1);
  return std::max<int64_t>(1, items / ranges);
}

}  // namespace sparq::cpu
