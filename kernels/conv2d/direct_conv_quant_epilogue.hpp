// The quantized tiles' epilogue on vectors: dequantize_activate of
// acc - comp (sparq::dequantize_accumulator, then the activation), and with
// a fused quantize the quantize kernels' rounding and clamping of that value.
#pragma once

#include "kernels/common/dequantize_simd.hpp"
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
  const Batch result = dequantize_activate<Arch>(
      corrected, Batch(a.act_scale * a.weight_scale[row]), Batch(a.bias[row]), a.activation);
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
