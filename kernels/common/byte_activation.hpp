// The magnitude bound of a quantized byte activation, written once for the
// int32 accumulator bound (runtime/backends/accumulator_bound.cpp) and the
// kernels that decide when an fp32 sum of products stays exact.
#pragma once

#include <cstdint>

namespace sparq::kernels {

// The largest |value| of a byte activation: 128 for s8 (its -128), 255 for u8.
constexpr int64_t max_abs_byte_activation(bool is_signed) {
  return is_signed ? 128 : 255;
}

}  // namespace sparq::kernels
