// StagingEpilogue: the staging (the "aligner") and the epilogue of the sparse
// 3x3 convolution (everything around the accumulation microkernels), as
// per-ISA function tables: the same template code (staging_epilogue_impl.hpp) is
// compiled once per ISA file so the compiler vectorises it for that ISA
// (and inlines fmaf as an FMA instruction where the ISA has one).
#pragma once

#include <cstdint>

#include "kernels/quantize/quantize.hpp"
#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"

namespace sparq::kernels::sparse3x3 {

// Where an epilogue writes its values y: f32, or (a fused static quantize,
// quantize.scale > 0) one byte each by the quantize kernels' rule
// (kernels/quantize FusedQuantize).
struct EpilogueOutput {
  void* data = nullptr;          // element 0 of the first channel written
  int64_t plane = 0;             // elements between consecutive channels
  FusedQuantize quantize{0.0f};  // scale 0: f32 output
  // f32 output: widened by every value written (after a ReLU or ReLU6, the
  // maxima only: QuantizeKernels::widen_lanes_nonnegative).
  RangeLanes* range = nullptr;
  // f32 output only, a fused residual (FusedResidual): the values r laid out
  // as the output (element 0 of the first channel written); each value
  // written is act(y + r), or act(r + y) in the add's order, the range
  // widened by it.
  const float* residual = nullptr;
  bool residual_first = false;
  Activation residual_activation = Activation::kNone;
  bool quantized() const { return quantize.scale > 0.0f; }
  // Points this at `base`'s destination from element `elements` on (the
  // other fields as base's). In place, not a fresh copy per block: a copy
  // built with 8-byte stores and read back with 16-byte loads stalls on
  // store forwarding, 5 % of ResNet-18's time at k = 1.
  void point_at(const EpilogueOutput& base, int64_t elements) {
    data = static_cast<uint8_t*>(base.data) + elements * (base.quantized() ? 1 : 4);
    if (base.residual != nullptr) residual = base.residual + elements;
  }
};

struct StagingEpilogue {
  // Writes rows [row_begin, row_end) of one channel's zero-padded (phase)
  // planes into an fp32 lane.
  void (*stage_f32)(const void* channel, bool signed_input, int height, int width, int stride,
                    const Sparse3x3Geometry& geometry, int row_begin, int row_end, float* lane);
  // Interleaves up to 4 channels (nullptr = zero channel) into rows
  // [row_begin, row_end) of a quad lane's planes.
  void (*stage_quad)(const void* const channels[4], bool signed_input, int height, int width,
                     int stride, const Sparse3x3Geometry& geometry, int row_begin, int row_end,
                     uint8_t* lane);
  // For the grid pixels p in [first, last) of `channels` output channels
  // (channel c's accumulators at acc + c * tile, acc[p - first]), writes
  // y = act(fmaf(float(acc), scales[c], bias[c])) to element
  // c * out.plane + oy * out_width + ox of `out` where p = oy * pitch + ox and
  // ox < out_width (then the residual, if out has one). `acc` holds exact
  // fp32 integers when acc_is_float, else int32.
  void (*epilogue)(const void* acc, bool acc_is_float, int64_t tile, int channels, int64_t first,
                   int64_t last, int pitch, int out_width, const float* scales, const float* bias,
                   Activation activation, const EpilogueOutput& out);
  // Output-channel form: acc[c / 16][p][c % 16] for `tile` pixels per
  // channel; writes y = act(fmaf(float(acc), scales[c], bias[c])) to element
  // c * out.plane + p of `out` for c < channels, p < pixels (then the
  // residual, if out has one).
  void (*epilogue_channels)(const int32_t* acc, int tile, int pixels, int channels,
                            const float* scales, const float* bias, Activation activation,
                            const EpilogueOutput& out);
};

StagingEpilogue staging_epilogue_scalar();
StagingEpilogue staging_epilogue_avx2();
StagingEpilogue staging_epilogue_avx512();

// The table for a path's ISA (VNNI uses the AVX-512 one).
StagingEpilogue staging_epilogue_for(Isa isa);

}  // namespace sparq::kernels::sparse3x3
