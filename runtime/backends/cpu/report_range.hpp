// How a CPU node reports its output's per-sample ranges (SampleRange): each
// task folds the chunk of one sample it has just written, still in cache,
// and widens that sample's shared range with compare-and-swap (the tasks of
// one sample run at once). Max and min are order-free, so the result is the
// same for any number of tasks and any interleaving. A consumer quantize
// node then skips its range pass.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "kernels/quantize/quantize.hpp"
#include "sparq/tensor.hpp"

namespace sparq::cpu {

using FoldRangeFn = decltype(kernels::QuantizeKernels::fold_range);

// Before the tasks start: every sample's range holds only 0.
inline void reset_ranges(const TensorView& output, int64_t batch) {
  if (output.ranges == nullptr) return;
  for (int64_t n = 0; n < batch; ++n) output.ranges[n] = SampleRange{};
}

// Widens sample n's range by y[0, count), when the view asks for ranges.
inline void report_range(const TensorView& output, int64_t n, const float* y, size_t count,
                         FoldRangeFn fold) {
  if (output.ranges == nullptr) return;
  SampleRange local;
  fold(y, count, local);
  std::atomic_ref<float> high(output.ranges[n].max), low(output.ranges[n].min);
  float seen = high.load(std::memory_order_relaxed);
  while (local.max > seen &&
         !high.compare_exchange_weak(seen, local.max, std::memory_order_relaxed)) {
  }
  seen = low.load(std::memory_order_relaxed);
  while (local.min < seen &&
         !low.compare_exchange_weak(seen, local.min, std::memory_order_relaxed)) {
  }
}

}  // namespace sparq::cpu
