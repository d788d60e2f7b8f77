// How the CPU pools split a batch into the parts their threads run.
//
// One thread, or planes too small to band: fixed chunks of each sample's
// elements (whole planes, for the pools). Several threads on a [C, H, W]
// value: one row band per thread, part b of a sample being rows
// [b H / T, (b + 1) H / T) of every channel. A SpinTeam gives thread b
// part b, the same rows as its share of the row-banded convolutions around
// the node (the direct convolution's tiles in pixel order before ResNet's
// stem pool, the sparse 3x3 bands after it), so it reads values its own
// core wrote: on two cores that do not share a cache, a value the other one
// wrote reads several times slower. The element-wise nodes keep their
// chunks: there a call per channel run cost more than the locality saved
// (a 56x56x64 static quantize on 2 threads, 15 -> 21 us).
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

#include "sparq/shape.hpp"

namespace sparq::cpu {

class SampleParts {
 public:
  // Parts of one sample of `shape` for `threads` threads; `chunk` is the
  // element count of a part when not banded.
  SampleParts(const Shape& shape, int64_t chunk, int threads) {
    sample_ = shape.elements();
    chunk_ = std::max<int64_t>(chunk, 1);
    per_sample_ = std::max<int64_t>(1, (sample_ + chunk_ - 1) / chunk_);
    if (threads <= 1 || shape.rank() != 3) return;
    // A band is a call per channel: runs shorter than kMinRun elements cost
    // more in calls than the locality saves (small planes are split like the
    // sparse 3x3 convolution splits them, by work, not rows).
    if (shape[1] < threads || shape[1] * shape[2] / threads < kMinRun) return;
    channels_ = shape[0];
    rows_ = shape[1];
    width_ = shape[2];
    per_sample_ = threads;
  }

  // Parts per sample.
  int64_t per_sample() const { return per_sample_; }
  // Whether parts are row bands (else chunks).
  bool banded() const { return channels_ > 0; }
  // Part p's rows [first, last) of every channel (banded only).
  std::pair<int64_t, int64_t> rows(int64_t part) const {
    return {part * rows_ / per_sample_, (part + 1) * rows_ / per_sample_};
  }

  // Calls run(first, count) for each run of contiguous elements of part
  // `index` of a batch (`first` counted from the batch's first element).
  template <typename Run>
  void for_each_run(int64_t index, const Run& run) const {
    const int64_t n = index / per_sample_, part = index % per_sample_;
    const int64_t base = n * sample_;
    if (!banded()) {
      const int64_t first = part * chunk_;
      run(base + first, std::min(chunk_, sample_ - first));
      return;
    }
    const auto [first, last] = rows(part);
    const int64_t plane = rows_ * width_;
    for (int64_t c = 0; c < channels_; ++c) {
      run(base + c * plane + first * width_, (last - first) * width_);
    }
  }

 private:
  static constexpr int64_t kMinRun = 1024;
  int64_t sample_ = 0, chunk_ = 1, per_sample_ = 1;
  int64_t channels_ = 0, rows_ = 0, width_ = 0;  // banded
};

}  // namespace sparq::cpu
