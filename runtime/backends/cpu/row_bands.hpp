// How the CPU pools split a sample on several threads: one band of rows of
// every channel per thread, band b being rows [b H / T, (b + 1) H / T), where
// each band's run of a plane is at least kMinRun elements; otherwise (one
// thread, small planes) the pools split by whole planes.
//
// A SpinTeam gives thread b band b, the same rows as its share of the
// row-banded convolutions around the pool (the direct convolution's tiles in
// pixel order before ResNet's stem pool, the sparse 3x3 bands after it), so
// it reads values its own core wrote: on two cores that do not share a
// cache, a value the other one wrote reads several times slower. The
// element-wise nodes keep their chunks: there a call per channel run cost
// more than the locality saved (a 56x56x64 static quantize on 2 threads,
// 15 -> 21 us).
#pragma once

#include <cstdint>
#include <utility>

#include "sparq/shape.hpp"

namespace sparq::cpu {

class RowBands {
 public:
  // The bands of a [C, H, W] sample `shape` for `threads` threads (none for
  // another rank).
  RowBands(const Shape& shape, int threads) {
    if (threads <= 1 || shape.rank() != 3) return;
    // A band is a call per channel: runs shorter than kMinRun elements cost
    // more in calls than the locality saves.
    if (shape[1] < threads || shape[1] * shape[2] / threads < kMinRun) return;
    rows_ = shape[1];
    count_ = threads;
  }

  // Bands per sample; 0: split by whole planes instead.
  int64_t count() const { return count_; }
  // Band b's rows [first, last) of every channel.
  std::pair<int64_t, int64_t> rows(int64_t band) const {
    return {band * rows_ / count_, (band + 1) * rows_ / count_};
  }

 private:
  static constexpr int64_t kMinRun = 1024;
  int64_t rows_ = 0, count_ = 0;
};

}  // namespace sparq::cpu
