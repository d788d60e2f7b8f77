// The quantized tiles' epilogue on vectors: y = fma(float(acc - comp),
// act_scale * weight_scale, bias) then the activation, the same operations
// as sparq::dequantize_accumulator (cvtdq2ps rounds like the C conversion,
// the FMA rounds once like fmaf), and with a fused quantize the quantize
// kernels' rounding and clamping of that value.
#pragma once

#include "kernels/common/activation_simd.hpp"
#include "kernels/common/simd_arch.hpp"
#include "kernels/conv2d/direct_conv.hpp"
#include "kernels/quantize/store_quantized.hpp"

namespace sparq::kernels {
namespace {

// Row `row`'s pixels [first, first + lanes) of the tile: stored when the row
// is one of a.rows, the first a.valid - first lanes of them (masked).
template <class Arch>
inline void store_dequantized(xsimd::batch<int32_t, Arch> acc, int64_t row, int64_t first,
                              const QuantTileArgs& a) {
  using Batch = xsimd::batch<float, Arch>;
  const int64_t count = a.valid - first;
  if (row >= a.rows || count <= 0) return;
  const xsimd::batch<int32_t, Arch> corrected =
      acc - xsimd::batch<int32_t, Arch>(a.compensation[row]);
  const Batch scale(a.act_scale * a.weight_scale[row]);
  const Batch y =
      fused_multiply_add(xsimd::batch_cast<float>(corrected), scale, Batch(a.bias[row]));
  const Batch result = apply_activation<Arch>(y, a.activation);
  if (a.out_bytes != nullptr) {
    QuantizedStore<Arch>(a.out_quantization)
        .store(result, a.out_bytes + row * a.out_stride + first, count);
    return;
  }
  float* out = a.out + row * a.out_stride + first;
  if (count >= static_cast<int64_t>(Batch::size)) {
    result.store_unaligned(out);
  } else {
    store_first(result, out, count);
  }
}

}  // namespace
}  // namespace sparq::kernels
