// The outputs of a strided row that read inside their input row: the one
// bounds computation behind every padded-copy kernel (pooling tap planes,
// depthwise phase planes, sparse 3x3 lanes), so that each row copy is a
// fill, a branch-free copy and a fill.
#pragma once

#include <algorithm>
#include <cstdint>

namespace sparq::kernels {

struct InsideRange {
  int64_t begin = 0, end = 0;
};

// [begin, end) of j in [0, count) with j * stride + first in [0, extent).
inline InsideRange inside_range(int64_t count, int64_t stride, int64_t first, int64_t extent) {
  const int64_t begin = std::min(count, first >= 0 ? 0 : (-first + stride - 1) / stride);
  const int64_t last = extent - 1 - first;  // largest j * stride allowed
  const int64_t end = last < 0 ? begin : std::clamp(last / stride + 1, begin, count);
  return {begin, end};
}

}  // namespace sparq::kernels
