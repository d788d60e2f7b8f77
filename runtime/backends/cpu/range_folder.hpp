// How a CPU node reports its output's per-sample ranges (SampleRange): each
// task folds the outputs it has just written, still in cache, into a running
// range, and publishes it to the sample's shared range when it moves on to
// another sample or ends. A consumer quantize node then skips its max pass.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/merge_range.hpp"
#include "kernels/quantize/quantize.hpp"
#include "sparq/tensor.hpp"

namespace sparq::cpu {

using FoldRowsFn = decltype(kernels::QuantizeKernels::fold_rows);

// Before the tasks start: every sample's range is empty (holds only 0).
inline void reset_ranges(const TensorView& output, int64_t batch) {
  if (output.ranges == nullptr) return;
  for (int64_t n = 0; n < batch; ++n) output.ranges[n] = SampleRange{};
}

class RangeFolder {
 public:
  RangeFolder(const TensorView& output, FoldRowsFn fold) : ranges_(output.ranges), fold_(fold) {}

  // Folds x[0, count) of sample n.
  void fold(int64_t n, const float* x, size_t count) {
    if (ranges_ == nullptr) return;
    if (n != sample_) {
      publish();
      sample_ = n;
    }
    fold_(x, 1, 0, count, local_);
  }

  // Call at the end of the task.
  void publish() {
    if (sample_ >= 0) {
      SampleRange range;
      local_.finish(range);
      kernels::merge_range(ranges_[sample_], range);
    }
    local_ = kernels::RangeLanes{};
    sample_ = -1;
  }

 private:
  SampleRange* ranges_;
  FoldRowsFn fold_;
  kernels::RangeLanes local_;
  int64_t sample_ = -1;
};

}  // namespace sparq::cpu
