// A deliberate data race inside a oneTBB parallel body: two tasks of one
// parallel_for write the same int without synchronisation. scripts/tsan.sh
// runs this first and requires ThreadSanitizer to report it, which shows the
// TSan build and its oneTBB see races between tasks; the real tests' clean
// runs then mean something.
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

namespace {

int unguarded = 0;

}  // namespace

int main() {
  // Relaxed atomics create no happens-before edge, so this rendezvous makes
  // both tasks run on different threads without hiding the race from TSan.
  std::atomic<int> arrived{0};
  tbb::task_arena arena(2);
  arena.execute([&] {
    tbb::parallel_for(
        tbb::blocked_range<int>(0, 2, 1),
        [&](const tbb::blocked_range<int>&) {
          ++unguarded;
          arrived.fetch_add(1, std::memory_order_relaxed);
          const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          while (arrived.load(std::memory_order_relaxed) < 2 &&
                 std::chrono::steady_clock::now() < give_up) {
            std::this_thread::yield();
          }
        },
        tbb::simple_partitioner());
  });
  std::printf("race canary: %d writes\n", unguarded);
  return 0;
}
