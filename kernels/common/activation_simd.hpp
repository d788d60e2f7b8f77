// The fused activations on xsimd batches, bit-identical to activation.hpp:
// xsimd::max(x, 0) is maxps(x, 0), which returns 0 for NaN and for -0.
#pragma once

#include <xsimd/xsimd.hpp>

#include "sparq/ops.hpp"

namespace sparq::kernels {

template <class Arch>
inline xsimd::batch<float, Arch> apply_activation(xsimd::batch<float, Arch> x,
                                                  Activation activation) {
  using Batch = xsimd::batch<float, Arch>;
  if (activation == Activation::kNone) return x;
  const Batch low = xsimd::max(x, Batch(0.0f));
  if (activation == Activation::kRelu) return low;
  return xsimd::min(low, Batch(6.0f));
}

}  // namespace sparq::kernels
