// The quantized fully connected layer's output rule on vectors, one output
// channel per lane: y[r] = act(fma(float(dots[r] - compensation[r]),
// act_scale * weight_scales[r], bias[r])), the operations of
// sparq::dequantize_accumulator (cvtdq2ps rounds like the C conversion, the
// scale product is one float multiply, the FMA rounds once like fmaf), so the
// vector body and the scalar tail agree bit for bit. A scalar loop here cost
// as much as the VNNI dot products (fmaf is a library call without -mfma).
#pragma once

#include "kernels/common/activation.hpp"
#include "kernels/common/activation_simd.hpp"
#include "kernels/common/simd_arch.hpp"
#include "kernels/fully_connected/fully_connected.hpp"
#include "sparq/quantization.hpp"

namespace sparq::kernels {
namespace {

template <class Arch>
struct FcDequantize {
  using Batch = xsimd::batch<float, Arch>;
  using Ints = xsimd::batch<int32_t, Arch>;
  static constexpr int64_t kLanes = static_cast<int64_t>(Batch::size);

  static void rows(const FcDequantizeArgs& a, int64_t rows, float* y) {
    const Batch act_scale(a.act_scale);
    int64_t r = 0;
    for (; r + kLanes <= rows; r += kLanes) {
      const Ints corrected =
          Ints::load_unaligned(a.dots + r) - Ints::load_unaligned(a.compensation + r);
      const Batch scale = act_scale * Batch::load_unaligned(a.weight_scales + r);
      const Batch sum = fused_multiply_add(xsimd::batch_cast<float>(corrected), scale,
                                           Batch::load_unaligned(a.bias + r));
      apply_activation<Arch>(sum, a.activation).store_unaligned(y + r);
    }
    for (; r < rows; ++r) {
      y[r] = apply_activation(dequantize_accumulator(a.dots[r] - a.compensation[r], a.act_scale,
                                                     a.weight_scales[r], a.bias[r]),
                              a.activation);
    }
  }
};

}  // namespace
}  // namespace sparq::kernels
