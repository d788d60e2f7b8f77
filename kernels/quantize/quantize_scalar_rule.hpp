// The contract's activation quantization rule element by element (the same
// steps as runtime/quant/quantization.cpp): shared by the scalar kernel and
// the tails of the vector kernels.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/quantize/quantize.hpp"

namespace sparq::kernels::scalar_rule {
namespace {

inline int round_and_clamp(float value, int lowest, int highest) {
  const float rounded = std::nearbyint(value);
  if (std::isnan(rounded)) return 0;
  if (rounded < static_cast<float>(lowest)) return lowest;
  if (rounded > static_cast<float>(highest)) return highest;
  return static_cast<int>(rounded);
}

// Widens `range` by every finite x[j] (NaN and infinities are skipped).
// Strict comparisons: -0 never replaces the +0 a range starts from.
inline void fold_range(const float* x, size_t count, SampleRange& range) {
  for (size_t j = 0; j < count; ++j) {
    const float v = x[j];
    if (!std::isfinite(v)) continue;
    if (v > range.max) range.max = v;
    if (v < range.min) range.min = v;
  }
}

// Widens lane 0 of `lanes` by every finite x[j] (the scalar form of the
// vector kernels' widen_lanes, and their tail).
inline void widen_lane0(const float* x, size_t count, RangeLanes& lanes) {
  SampleRange range{lanes.high[0], lanes.low[0]};
  fold_range(x, count, range);
  lanes.high[0] = range.max;
  lanes.low[0] = range.min;
}

inline void to_u8(const float* x, size_t count, float scale, int qmax, uint8_t* out) {
  for (size_t j = 0; j < count; ++j)
    out[j] = static_cast<uint8_t>(round_and_clamp(x[j] / scale, 0, qmax));
}

inline void to_u8_rectified(const float* x, size_t count, float scale, uint8_t* out) {
  to_u8(x, count, scale, 255, out);
}

inline void to_s8(const float* x, size_t count, float scale, int8_t* out) {
  for (size_t j = 0; j < count; ++j)
    out[j] = static_cast<int8_t>(round_and_clamp(x[j] / scale, -127, 127));
}

}  // namespace
}  // namespace sparq::kernels::scalar_rule
