// Fully connected kernels.
// Quantized: raw int32 dot products of one u8 input row with s8 weight rows
// (s8 inputs are flipped to u8 = s8 + 128 by the caller, which subtracts
// 128 * sum(w) afterwards), exact on every ISA.
// Float: out[o] = sum over i in ascending order of wt[i][o] * x[i], each lane
// one output channel, separate multiply and add: the reference backend's
// order and rounding, so bit-identical to it (Eigen's GEMV reorders the sum,
// which is why it is not used here).
#pragma once

#include <cstdint>

#include "kernels/isa/isa.hpp"

namespace sparq::kernels {

// Output channels per float block; transposed weights are padded to a multiple.
inline constexpr int64_t kFcFloatBlock = 32;

struct FullyConnectedKernels {
  Isa isa = Isa::kScalar;
  // dots[r] = sum_i x[i] * w[r * in + i] for r < rows.
  void (*dot_u8s8)(const uint8_t* x, const int8_t* w, int64_t in, int64_t rows, int32_t* dots);
  // For o in [o_begin, o_begin + kFcFloatBlock): sums[o - o_begin] =
  // sum_i x[i] * wt[i * out_padded + o], in ascending i, without FMA.
  void (*block_f32)(const float* x, const float* wt, int64_t in, int64_t out_padded,
                    int64_t o_begin, float* sums);
};

FullyConnectedKernels fully_connected_kernels_scalar();
FullyConnectedKernels fully_connected_kernels_avx2();
FullyConnectedKernels fully_connected_kernels_avx512();
FullyConnectedKernels fully_connected_kernels_vnni();
FullyConnectedKernels fully_connected_kernels(Isa active);

}  // namespace sparq::kernels
