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

// Widens lane j % RangeLanes::kLanes by every finite x[j] (NaN and
// infinities are skipped). Strict comparisons: -0 never replaces the +0 a
// range starts from.
inline void fold_row(const float* x, size_t count, RangeLanes& lanes) {
  for (size_t j = 0; j < count; ++j) {
    const float v = x[j];
    if (!std::isfinite(v)) continue;
    float& high = lanes.max[j % RangeLanes::kLanes];
    float& low = lanes.min[j % RangeLanes::kLanes];
    if (v > high) high = v;
    if (v < low) low = v;
  }
}

inline void fold_rows(const float* x, size_t rows, size_t stride, size_t count, RangeLanes& lanes) {
  for (size_t r = 0; r < rows; ++r) fold_row(x + r * stride, count, lanes);
}

inline void to_u8(const float* x, size_t count, float scale, int qmax, uint8_t* out) {
  for (size_t j = 0; j < count; ++j)
    out[j] = static_cast<uint8_t>(round_and_clamp(x[j] / scale, 0, qmax));
}

inline void to_s8(const float* x, size_t count, float scale, int8_t* out) {
  for (size_t j = 0; j < count; ++j)
    out[j] = static_cast<int8_t>(round_and_clamp(x[j] / scale, -127, 127));
}

}  // namespace
}  // namespace sparq::kernels::scalar_rule
