// The fused activations of the numerics contract, as one scalar definition
// for every kernel's epilogue and tail loop. ReLU is `x > 0 ? x : +0` and
// ReLU6 `min(relu(x), 6)` written the same way (the reference backend's rule):
// NaN and -0 become +0, exactly what x86 maxps(x, 0) / minps(r, 6) return
// (they return their second operand when the comparison fails), so scalar
// tails and vector bodies agree bit for bit.
#pragma once

#include "sparq/ops.hpp"

namespace sparq::kernels {

inline float relu(float x) {
  return x > 0.0f ? x : 0.0f;
}
inline float relu6(float x) {
  const float low = relu(x);
  return low < 6.0f ? low : 6.0f;
}

inline float apply_activation(float x, Activation activation) {
  switch (activation) {
    case Activation::kNone:
      return x;
    case Activation::kRelu:
      return relu(x);
    case Activation::kRelu6:
      return relu6(x);
  }
  return x;
}

}  // namespace sparq::kernels
