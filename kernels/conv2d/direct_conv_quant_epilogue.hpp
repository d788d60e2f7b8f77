// The quantized tiles' epilogue on vectors: y = fma(float(acc - comp),
// act_scale * weight_scale, bias) then the activation, the same operations
// as sparq::dequantize_accumulator (cvtdq2ps rounds like the C conversion,
// the FMA rounds once like fmaf).
#pragma once

#include "kernels/common/activation_simd.hpp"
#include "kernels/common/simd_arch.hpp"
#include "kernels/conv2d/direct_conv.hpp"

namespace sparq::kernels {
namespace {

template <class Arch>
inline void store_dequantized(xsimd::batch<int32_t, Arch> acc, int64_t row, const QuantTileArgs& a,
                              float* out) {
  using Batch = xsimd::batch<float, Arch>;
  const xsimd::batch<int32_t, Arch> corrected =
      acc - xsimd::batch<int32_t, Arch>(a.compensation[row]);
  const Batch scale(a.act_scale * a.weight_scale[row]);
  const Batch y =
      fused_multiply_add(xsimd::batch_cast<float>(corrected), scale, Batch(a.bias[row]));
  apply_activation<Arch>(y, a.activation).store_unaligned(out);
}

}  // namespace
}  // namespace sparq::kernels
