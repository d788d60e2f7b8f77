#include "runtime/backends/cpu/spin_team.hpp"

#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace sparq::cpu {
namespace {

thread_local SpinTeam* t_led = nullptr;

inline void pause() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// Spins until ready(), yielding now and then so that a spinning thread on
// an oversubscribed host lets the thread it waits for run.
template <typename Ready>
void spin_until(const Ready& ready) {
  for (uint32_t spins = 1; !ready(); ++spins) {
    if (spins % 1024 == 0) {
      std::this_thread::yield();
    } else {
      pause();
    }
  }
}

}  // namespace

SpinTeam::SpinTeam(int threads) {
  const int helpers = std::max(0, std::min(threads, tbb::this_task_arena::max_concurrency()) - 1);
  slots_ = 1 + helpers;
  busy_ = std::make_unique<BusyClock[]>(static_cast<size_t>(slots_));
  for (int i = 0; i < helpers; ++i) helpers_.run([this] { serve(); });
  outer_ = t_led;
  t_led = this;
}

SpinTeam::~SpinTeam() {
  t_led = outer_;
  {
    std::lock_guard lock(join_mutex_);
    closed_ = true;  // helpers that start from now on leave at once
  }
  stop_.store(true, std::memory_order_release);
  helpers_.wait();
}

int SpinTeam::members() const {
  std::lock_guard lock(join_mutex_);
  return 1 + joined_;
}

SpinTeam* SpinTeam::led_by_this_thread() {
  return t_led;
}

void SpinTeam::count_busy_time(bool on) {
  count_busy_ = on;
}

std::vector<double> SpinTeam::busy_seconds() const {
  std::vector<double> seconds(static_cast<size_t>(slots_));
  for (int m = 0; m < slots_; ++m) {
    seconds[static_cast<size_t>(m)] = static_cast<double>(busy_[m].ns.load()) * 1e-9;
  }
  return seconds;
}

void SpinTeam::serve() {
  int index = 0;
  uint64_t seen = 0;
  {
    std::lock_guard lock(join_mutex_);
    if (closed_) return;
    index = ++joined_;
    // Regions published before this point are not this helper's.
    seen = epoch_.load(std::memory_order_acquire);
  }
  for (;;) {
    uint64_t epoch = seen;
    spin_until([&] {
      epoch = epoch_.load(std::memory_order_acquire);
      return epoch != seen || stop_.load(std::memory_order_acquire);
    });
    if (epoch == seen) return;  // stopped, every region done
    seen = epoch;
    if (index < workers_) work(index);
    finished_.fetch_add(1, std::memory_order_release);
  }
}

void SpinTeam::work(int worker) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = counting_ ? Clock::now() : Clock::time_point{};
  try {
    // Worker w runs the w-th of `workers_` contiguous runs of ranges: the same
    // share of every region, so consecutive layers whose items follow the
    // same order (shares of the channels: sample_parts.hpp) find most of
    // their input in the cache of the thread that wrote it. Pulling from a counter instead
    // ran ResNet-18 at batch 1 on 2 threads 4 % slower here.
    const int64_t ranges = (items_ + grain_ - 1) / grain_;
    const int64_t first = ranges * worker / workers_;
    const int64_t last = ranges * (worker + 1) / workers_;
    for (int64_t r = first; r < last && !failed_.load(std::memory_order_relaxed); ++r) {
      fn_(body_, worker, r * grain_, std::min((r + 1) * grain_, items_));
    }
  } catch (...) {
    std::lock_guard lock(error_mutex_);
    if (!error_) error_ = std::current_exception();
    failed_.store(true, std::memory_order_relaxed);  // the others stop early
  }
  if (counting_) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start);
    busy_[worker].ns.fetch_add(ns.count(), std::memory_order_relaxed);
  }
}

void SpinTeam::run(int workers, int64_t items, int64_t grain, RegionFn fn, const void* body) {
  {
    std::lock_guard lock(join_mutex_);
    counted_ = joined_;
    fn_ = fn;
    body_ = body;
    items_ = items;
    grain_ = std::max<int64_t>(grain, 1);
    workers_ = std::clamp(workers, 1, 1 + counted_);
    counting_ = count_busy_;
    failed_.store(false, std::memory_order_relaxed);
    finished_.store(0, std::memory_order_relaxed);
    error_ = nullptr;
    epoch_.fetch_add(1, std::memory_order_release);  // publishes the region
  }
  // A body that calls run_capped itself gets oneTBB tasks, not this team.
  t_led = nullptr;
  work(0);
  t_led = this;
  spin_until([&] { return finished_.load(std::memory_order_acquire) == counted_; });
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

}  // namespace sparq::cpu
