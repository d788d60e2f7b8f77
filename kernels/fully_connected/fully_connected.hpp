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
#include "sparq/ops.hpp"

namespace sparq::kernels {

// Output channels per float block. Float weights are packed block by block,
// [out / kFcFloatBlock][in][kFcFloatBlock] (padded with zeros), so a block
// reads one contiguous run: with rows of all outputs, each step of i jumped a
// whole row (4 KiB for 1000 outputs), a new page every load, which the
// prefetchers do not follow.
inline constexpr int64_t kFcFloatBlock = 32;

// Output channels per group of the blocked quantized weight layout
// (FullyConnectedKernels::dot_u8s8_groups): group g holds, for each quad of
// inputs q (inputs 4 q .. 4 q + 3), the 4 weight bytes of each of its
// kFcQuantGroup outputs in output order, [ceil(O / 64)][ceil(I / 4)][64][4],
// zero past O and I. A group is then one sequential stream that vpdpbusd
// takes 16 outputs at a time against a broadcast input quad, instead of 64
// rows each read a piece at a time and reduced across lanes at the end.
inline constexpr int64_t kFcQuantGroup = 64;

// Bytes of the blocked layout of an [out, in] weight matrix.
inline int64_t fc_quant_group_bytes(int64_t out, int64_t in) {
  return (out + kFcQuantGroup - 1) / kFcQuantGroup * kFcQuantGroup * ((in + 3) / 4 * 4);
}

// w [out, in] (row-major) into the blocked layout at `groups`
// (fc_quant_group_bytes(out, in) bytes).
void pack_fc_quant_groups(const int8_t* w, int64_t out, int64_t in, int8_t* groups);

// A block of quantized output channels: their raw dots (dot_u8s8), the s8
// input correction, and the per-channel operands of the output rule.
struct FcDequantizeArgs {
  const int32_t* dots = nullptr;
  const int32_t* compensation = nullptr;  // 128 * sum(w) per row for s8 input, else 0
  float act_scale = 1.0f;
  const float* weight_scales = nullptr;
  const float* bias = nullptr;
  Activation activation = Activation::kNone;
};

struct FullyConnectedKernels {
  Isa isa = Isa::kScalar;
  // dots[r] = sum_i x[i] * w[r * in + i] for r < rows.
  void (*dot_u8s8)(const uint8_t* x, const int8_t* w, int64_t in, int64_t rows, int32_t* dots);
  // For o < kFcFloatBlock: sums[o] = sum_i x[i] * block[i * kFcFloatBlock + o],
  // in ascending i, without FMA.
  void (*block_f32)(const float* x, const float* block, int64_t in, float* sums);
  // y[r] = act(dequantize_accumulator(dots[r] - compensation[r], act_scale,
  // weight_scales[r], bias[r])) for r < rows.
  void (*dequantize)(const FcDequantizeArgs& args, int64_t rows, float* y);
  // The same dots from the blocked layout (pack_fc_quant_groups): `groups`
  // points at the group of row 0 and rows run through as many groups as
  // they need. Null on ISAs without it (they take dot_u8s8). Reads no byte
  // of x past x + in. Groups 64-byte aligned read a cache line per load
  // (otherwise two: 3.5 us instead of 2.8 for 512 -> 1000 on a Zen 5 core).
  void (*dot_u8s8_groups)(const uint8_t* x, const int8_t* groups, int64_t in, int64_t rows,
                          int32_t* dots) = nullptr;
};

FullyConnectedKernels fully_connected_kernels_scalar();
FullyConnectedKernels fully_connected_kernels_avx2();
FullyConnectedKernels fully_connected_kernels_avx512();
FullyConnectedKernels fully_connected_kernels_vnni();
FullyConnectedKernels fully_connected_kernels(Isa active);

}  // namespace sparq::kernels
