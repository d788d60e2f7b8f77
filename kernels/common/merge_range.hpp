// Publishing a task's SampleRange into the range of its sample. The tasks of
// one sample run concurrently, so the shared range is widened with
// compare-and-swap; max and min are order-free, so the result is the same
// for any number of tasks and any interleaving.
#pragma once

#include <atomic>

#include "sparq/tensor.hpp"

namespace sparq::kernels {

inline void merge_range(SampleRange& shared, const SampleRange& local) {
  std::atomic_ref<float> high(shared.max), low(shared.min);
  float seen = high.load(std::memory_order_relaxed);
  while (local.max > seen &&
         !high.compare_exchange_weak(seen, local.max, std::memory_order_relaxed)) {
  }
  seen = low.load(std::memory_order_relaxed);
  while (local.min < seen &&
         !low.compare_exchange_weak(seen, local.min, std::memory_order_relaxed)) {
  }
}

}  // namespace sparq::kernels
