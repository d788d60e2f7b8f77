// A team of threads kept awake for the length of one run of a network on a
// single chunk (batch 1 with several threads). Such a run is some forty
// parallel regions of a few to a few hundred microseconds each; through
// plain oneTBB tasks each region may find the other worker asleep and pay
// for waking it (on a virtual machine an inter-processor interrupt, tens of
// microseconds). The team's helpers instead spin on a region counter between
// regions, as the intra-op thread pools of ONNX Runtime and OpenMP runtimes
// do by default, and go back to oneTBB when the team ends.
//
// The thread that builds a team leads it: run_capped on that thread hands
// its regions to the team (SpinTeam::led_by_this_thread). Helpers are
// oneTBB tasks that join whenever a worker picks them up, taking part from
// the next region on; the leader works on every region itself, so regions
// complete whether or not any helper has joined, and nothing waits for a
// helper that never starts. Each thread runs a fixed contiguous share of a
// region's ranges (the ranges run_capped would pull), the same share in
// every region; callers give each item its own outputs, so results do not
// depend on which thread runs it.
#pragma once

#include <oneapi/tbb/task_group.h>
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <vector>

namespace sparq::cpu {

class SpinTeam {
 public:
  // body(worker, begin, end) behind a type-erased pointer.
  using RegionFn = void (*)(const void* body, int worker, int64_t begin, int64_t end);

  // Starts up to `threads` - 1 helpers (no more than the current oneTBB
  // arena can run beside the caller) and makes the calling thread the
  // team's leader.
  explicit SpinTeam(int threads);
  // Stops the helpers and waits for their tasks.
  ~SpinTeam();
  SpinTeam(const SpinTeam&) = delete;
  SpinTeam& operator=(const SpinTeam&) = delete;

  // The leader and the helpers that have joined so far.
  int members() const;

  // Runs body over consecutive ranges of [0, items), each at most `grain`
  // long, on min(workers, members) threads (worker indices 0 .. that - 1,
  // the leader being 0), worker w taking the w-th contiguous share of the
  // ranges; returns when every range is done. An exception from a body is
  // rethrown here (the first one), after all threads have left the region.
  void run(int workers, int64_t items, int64_t grain, RegionFn fn, const void* body);

  // The team the calling thread leads, or null.
  static SpinTeam* led_by_this_thread();

  // Counts, from the next region on, each member's time running its shares
  // of regions (two clock reads per region and member); off by default.
  void count_busy_time(bool on);
  // Seconds each member spent running shares of regions while the count was
  // on, the leader first, then the helpers in the order they joined (0 for
  // one that has not). Call on the leader, between regions.
  std::vector<double> busy_seconds() const;

 private:
  void serve();
  void work(int worker);

  tbb::task_group helpers_;
  // Joining and publishing a region are one critical section each, so a
  // helper either counts in a region (and runs its share) or joins after it
  // was published (and starts with the next).
  mutable std::mutex join_mutex_;
  int joined_ = 0;       // helpers that joined; guarded by join_mutex_
  bool closed_ = false;  // the team is ending; guarded by join_mutex_
  int counted_ = 0;      // helpers counted in the current region (leader only)

  // The region being run: written by the leader before it publishes a new
  // epoch, read by helpers after they see it.
  RegionFn fn_ = nullptr;
  const void* body_ = nullptr;
  int64_t items_ = 0, grain_ = 1;
  int workers_ = 1;
  bool counting_ = false;  // the region counts busy time (count_busy_time)
  std::atomic<uint64_t> epoch_{0};
  std::atomic<int> finished_{0};     // helpers done with the current epoch
  std::atomic<bool> failed_{false};  // a body threw: the others stop early
  std::atomic<bool> stop_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
  bool count_busy_ = false;  // leader only: what the next region's counting_ is
  // Nanoseconds of busy time per member, each on its own cache line and
  // written only by its member.
  struct alignas(64) BusyClock {
    std::atomic<int64_t> ns{0};
  };
  std::unique_ptr<BusyClock[]> busy_;
  int slots_ = 1;              // members the team can have: the leader and its helpers
  SpinTeam* outer_ = nullptr;  // the team this thread led before (restored at the end)
};

}  // namespace sparq::cpu
