#include "kernels/fully_connected/fully_connected.hpp"

#include "kernels/common/activation.hpp"
#include "sparq/quantization.hpp"

namespace sparq::kernels {
namespace {

void dot_u8s8(const uint8_t* x, const int8_t* w, int64_t in, int64_t rows, int32_t* dots) {
  for (int64_t r = 0; r < rows; ++r) {
    int32_t acc = 0;
    for (int64_t i = 0; i < in; ++i) acc += x[i] * w[r * in + i];
    dots[r] = acc;
  }
}

void block_f32(const float* x, const float* weights, int64_t in, float* sums) {
  for (int64_t o = 0; o < kFcFloatBlock; ++o) sums[o] = 0.0f;
  for (int64_t i = 0; i < in; ++i) {
    const float* row = weights + i * kFcFloatBlock;
    for (int64_t o = 0; o < kFcFloatBlock; ++o) sums[o] += row[o] * x[i];
  }
}

void dequantize(const FcDequantizeArgs& a, int64_t rows, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    y[r] = apply_activation(dequantize_accumulator(a.dots[r] - a.compensation[r], a.act_scale,
                                                   a.weight_scales[r], a.bias[r]),
                            a.activation);
  }
}

}  // namespace

FullyConnectedKernels fully_connected_kernels_scalar() {
  return {Isa::kScalar, &dot_u8s8, &block_f32, &dequantize};
}

}  // namespace sparq::kernels
