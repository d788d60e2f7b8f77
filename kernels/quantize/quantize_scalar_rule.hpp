// The contract's activation quantization rule element by element (the same
// steps as runtime/quant/quantization.cpp): shared by the scalar kernel and
// the tails of the vector kernels.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace sparq::kernels::scalar_rule {
namespace {

inline int round_and_clamp(float value, int lowest, int highest) {
  const float rounded = std::nearbyint(value);
  if (std::isnan(rounded)) return 0;
  if (rounded < static_cast<float>(lowest)) return lowest;
  if (rounded > static_cast<float>(highest)) return highest;
  return static_cast<int>(rounded);
}

inline float max_finite(const float* x, size_t count, bool absolute) {
  float max_value = 0.0f;
  for (size_t j = 0; j < count; ++j) {
    if (!std::isfinite(x[j])) continue;
    max_value = std::fmax(max_value, absolute ? std::fabs(x[j]) : x[j]);
  }
  return max_value;
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
