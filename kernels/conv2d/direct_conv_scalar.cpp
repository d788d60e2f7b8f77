// Scalar tiles: the readable statement of what every vector tile computes.
#include "kernels/common/activation.hpp"
#include "kernels/conv2d/direct_conv.hpp"
#include "kernels/quantize/quantize_scalar_rule.hpp"
#include "sparq/quantization.hpp"

namespace sparq::kernels {
namespace {

constexpr int64_t kTile = 16;

void quant_tile(const QuantTileArgs& a) {
  int32_t acc[kOutBlock][kTile] = {};
  for (int64_t s = 0; s < a.steps; ++s) {
    const uint8_t* x = a.input + (a.step_offsets[s] + a.first_pixel) * 4;
    const int8_t* w = a.weights + s * kOutBlock * 4;
    for (int64_t r = 0; r < kOutBlock; ++r) {
      for (int64_t p = 0; p < kTile; ++p) {
        for (int64_t d = 0; d < 4; ++d) acc[r][p] += x[p * 4 + d] * w[r * 4 + d];
      }
    }
  }
  for (int64_t r = 0; r < a.rows; ++r) {
    float y[kTile];
    for (int64_t p = 0; p < a.valid; ++p) {
      y[p] = apply_activation(dequantize_accumulator(acc[r][p] - a.compensation[r], a.act_scale,
                                                     a.weight_scale[r], a.bias[r]),
                              a.activation);
    }
    if (a.out_bytes == nullptr) {
      for (int64_t p = 0; p < a.valid; ++p) a.out[r * a.out_stride + p] = y[p];
      if (a.range != nullptr) scalar_rule::widen_lane0(y, static_cast<size_t>(a.valid), *a.range);
    } else if (a.out_quantization.is_signed) {
      scalar_rule::to_s8(y, static_cast<size_t>(a.valid), a.out_quantization.scale,
                         reinterpret_cast<int8_t*>(a.out_bytes + r * a.out_stride));
    } else {
      scalar_rule::to_u8(y, static_cast<size_t>(a.valid), a.out_quantization.scale,
                         a.out_quantization.qmax, a.out_bytes + r * a.out_stride);
    }
  }
}

void float_tile(const FloatTileArgs& a) {
  float acc[kOutBlock][kTile] = {};
  for (int64_t s = 0; s < a.steps; ++s) {
    const float* x = a.input + a.step_offsets[s] + a.first_pixel;
    const float* w = a.weights + s * kOutBlock;
    for (int64_t r = 0; r < kOutBlock; ++r) {
      for (int64_t p = 0; p < kTile; ++p) acc[r][p] += x[p] * w[r];
    }
  }
  for (int64_t r = 0; r < kOutBlock; ++r) {
    for (int64_t p = 0; p < kTile; ++p) {
      a.out[r * kTile + p] = apply_activation(acc[r][p] + a.bias[r], a.activation);
    }
  }
}

}  // namespace

DirectConvKernels direct_conv_kernels_scalar() {
  return {Isa::kScalar, kTile, &quant_tile};
}
FloatConvKernels float_conv_kernels_scalar() {
  return {Isa::kScalar, kTile, &float_tile};
}

}  // namespace sparq::kernels
