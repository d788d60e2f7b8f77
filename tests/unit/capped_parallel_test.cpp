// run_capped: every item once, never more concurrent bodies than the cap,
// even inside an arena (and a process-wide limit) far larger than the cap.
#include <gtest/gtest.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "runtime/backends/cpu/capped_parallel.hpp"

namespace sparq::cpu {
namespace {

struct Observed {
  int max_in_flight = 0;
  bool worker_reused_concurrently = false;
  bool worker_out_of_range = false;
  std::vector<int> hits;  // per item
};

// Runs `items` items of about 1 ms each (a sleep, so the bodies overlap even
// on a busy 2-core host) with `workers` inside a 16-thread arena.
Observed observe(int64_t items, int workers, int64_t grain) {
  tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 16);
  tbb::task_arena arena(16);
  Observed seen;
  seen.hits.assign(static_cast<size_t>(items), 0);
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  std::vector<std::atomic<int>> worker_busy(64);
  std::vector<std::atomic<int>> hits(static_cast<size_t>(items));
  std::atomic<bool> reused{false}, out_of_range{false};
  arena.execute([&] {
    run_capped(items, workers, grain, [&](int worker, int64_t begin, int64_t end) {
      if (worker < 0 || worker >= workers) {
        out_of_range = true;
        return;
      }
      if (worker_busy[static_cast<size_t>(worker)].fetch_add(1) != 0) reused = true;
      const int now = in_flight.fetch_add(1) + 1;
      int seen_max = max_in_flight.load();
      while (now > seen_max && !max_in_flight.compare_exchange_weak(seen_max, now)) {
      }
      for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      in_flight.fetch_sub(1);
      worker_busy[static_cast<size_t>(worker)].fetch_sub(1);
    });
  });
  seen.max_in_flight = max_in_flight.load();
  seen.worker_reused_concurrently = reused.load();
  seen.worker_out_of_range = out_of_range.load();
  for (size_t i = 0; i < hits.size(); ++i) seen.hits[i] = hits[i].load();
  return seen;
}

TEST(CappedParallel, NeverMoreBodiesAtOnceThanWorkersInALargerArena) {
  for (int workers : {1, 2, 3}) {
    const Observed seen = observe(/*items=*/96, workers, /*grain=*/1);
    EXPECT_LE(seen.max_in_flight, workers) << workers << " workers";
    EXPECT_FALSE(seen.worker_out_of_range) << workers << " workers";
    EXPECT_FALSE(seen.worker_reused_concurrently) << workers << " workers";
    for (size_t i = 0; i < seen.hits.size(); ++i) {
      ASSERT_EQ(seen.hits[i], 1) << "item " << i << ", " << workers << " workers";
    }
  }
}

TEST(CappedParallel, UsesMoreThanOneWorkerWhenAllowed) {
  // 96 sleeping bodies: two workers overlap at least once unless the cap
  // wrongly serialises everything.
  EXPECT_GE(observe(96, 2, 1).max_in_flight, 2);
}

TEST(CappedParallel, GrainsCoverRaggedTailsOnce) {
  for (int64_t items : {1, 7, 64, 65}) {
    const Observed seen = observe(items, 3, /*grain=*/4);
    EXPECT_LE(seen.max_in_flight, 3);
    for (size_t i = 0; i < seen.hits.size(); ++i) {
      ASSERT_EQ(seen.hits[i], 1) << "item " << i << " of " << items;
    }
  }
}

TEST(CappedParallel, OneWorkerOrOneRangeRunsInOrderOnTheCaller) {
  const std::thread::id caller = std::this_thread::get_id();
  std::vector<int64_t> begins;
  run_capped(10, 1, 3, [&](int worker, int64_t begin, int64_t end) {
    EXPECT_EQ(worker, 0);
    EXPECT_EQ(std::this_thread::get_id(), caller);
    begins.push_back(begin);
    EXPECT_EQ(end, 10);
  });
  EXPECT_EQ(begins, std::vector<int64_t>{0});
  int calls = 0;
  run_capped(0, 4, 1, [&](int, int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(CappedParallel, BalancedGrainGivesEachWorkerSeveralRanges) {
  EXPECT_EQ(balanced_grain(800, 2), 100);
  EXPECT_EQ(balanced_grain(3, 2), 1);
  EXPECT_EQ(balanced_grain(100, 0), 25);  // no workers counts as one
}

}  // namespace
}  // namespace sparq::cpu
