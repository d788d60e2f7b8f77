// Element-wise f32 kernels: residual add (+ fused activation), activation,
// dequantize (x = scale * q). Each is exact per element, so every ISA gives
// the same bits as the reference backend.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/isa/isa.hpp"
#include "sparq/ops.hpp"
#include "sparq/tensor.hpp"

namespace sparq::kernels {

struct EltwiseKernels {
  Isa isa = Isa::kScalar;
  void (*add)(const float* a, const float* b, float* out, size_t count, Activation activation);
  // add, also widening `range` by the values written (the quantize kernels'
  // fold_range rule).
  void (*add_ranged)(const float* a, const float* b, float* out, size_t count,
                     Activation activation, SampleRange& range);
  void (*activate)(const float* x, float* out, size_t count, Activation activation);
  void (*dequantize_u8)(const uint8_t* q, float scale, float* out, size_t count);
  void (*dequantize_s8)(const int8_t* q, float scale, float* out, size_t count);
};

EltwiseKernels eltwise_kernels_scalar();
EltwiseKernels eltwise_kernels_avx2();
EltwiseKernels eltwise_kernels_avx512();
// The best of the above for `active`.
EltwiseKernels eltwise_kernels(Isa active);

}  // namespace sparq::kernels
