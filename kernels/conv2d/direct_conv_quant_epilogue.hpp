// The quantized tiles' epilogue on vectors: y = fma(float(acc - comp),
// act_scale * weight_scale, bias) then the activation, the same operations
// as sparq::dequantize_accumulator (cvtdq2ps rounds like the C conversion,
// the FMA rounds once like fmaf), and with a fused quantize the quantize
// kernels' rounding and clamping of that value.
#pragma once

#include "kernels/common/activation_simd.hpp"
#include "kernels/common/simd_arch.hpp"
#include "kernels/conv2d/direct_conv.hpp"
#include "kernels/quantize/quantize_impl.hpp"

namespace sparq::kernels {
namespace {

// The fused quantize of `count` lanes of y (all when count >= the lane
// count): Quantize<Arch>::round_clamp, the quantize kernels' own rule, then
// the low byte of each lane; a tail goes through a buffer so that no byte
// past dst + count is written.
template <class Arch>
inline void store_quantized(xsimd::batch<float, Arch> y, const QuantTileArgs& a, uint8_t* dst,
                            int64_t count) {
  using Batch = xsimd::batch<float, Arch>;
  constexpr auto kLanes = static_cast<int64_t>(Batch::size);
  const Batch lowest(a.out_signed ? -127.0f : 0.0f);
  const Batch highest(a.out_signed ? 127.0f : static_cast<float>(a.out_qmax));
  const auto q = Quantize<Arch>::round_clamp(y, Batch(a.out_scale), lowest, highest);
  if (count >= kLanes) {
    store_low_bytes(q, dst);
    return;
  }
  alignas(64) uint8_t bytes[kLanes];
  store_low_bytes(q, bytes);
  for (int64_t p = 0; p < count; ++p) dst[p] = bytes[p];
}

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
    store_quantized<Arch>(result, a, a.out_bytes + row * a.out_stride + first, count);
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
