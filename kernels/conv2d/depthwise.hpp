// Depthwise convolution (groups == input channels == output channels), one
// channel plane at a time. The plane is copied once, zero padded and split
// into stride_w column phases, so each kernel tap of an output row is a
// contiguous run; the vector loop runs over output columns. Quantized planes
// are staged as 16-bit integers where every partial sum fits one (4-bit 3x3
// kernels) and rows are wider than one fp32 vector, else as fp32 with FMA,
// exact because every partial sum is an integer below 2^24 (both checked
// per channel from its weights; larger kernels fall back to int32 sums);
// float planes sum each pixel's taps in
// (ky, kx) order with separate multiply and add, the reference order, so both
// are bit-identical to the reference backend. On VNNI, u8 planes of kernels
// up to 4 columns wide skip the copy (depthwise_vnni.cpp: exact int32 sums).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/conv2d/direct_conv.hpp"
#include "kernels/quantize/quantize.hpp"

namespace sparq::kernels {

// Floats of scratch one plane needs.
size_t depthwise_scratch_elements(const ConvGeometry& g);

struct DepthwiseQuantArgs {
  const int32_t* weights = nullptr;  // [kernel_h * kernel_w] of this channel, -128..127
  float act_scale = 1.0f;
  float weight_scale = 1.0f;
  float bias = 0.0f;
  Activation activation = Activation::kNone;
};

struct DepthwiseKernels {
  Isa isa = Isa::kScalar;
  void (*plane_u8)(const uint8_t* in, const ConvGeometry& g, const DepthwiseQuantArgs& a,
                   float* out, float* scratch);
  void (*plane_s8)(const int8_t* in, const ConvGeometry& g, const DepthwiseQuantArgs& a, float* out,
                   float* scratch);
  void (*plane_f32)(const float* in, const ConvGeometry& g, const float* weights, float bias,
                    Activation activation, float* out, float* scratch);
  // A u8 plane straight to the bytes of a fused static quantize (no scratch),
  // in tables that have such a path, for the geometries writes_bytes accepts;
  // elsewhere the caller quantizes the f32 plane.
  bool (*writes_bytes)(const ConvGeometry& g) = nullptr;
  void (*plane_u8_to_bytes)(const uint8_t* in, const ConvGeometry& g, const DepthwiseQuantArgs& a,
                            const FusedQuantize& q, uint8_t* out) = nullptr;
  // plane_u8 that also widens `range` by every value it stores, from its
  // registers (QuantizeKernels::widen_lanes's rule; after a ReLU or ReLU6 the
  // maxima only, as widen_lanes_nonnegative), for the geometries
  // writes_bytes accepts; elsewhere the caller widens the stored plane.
  void (*plane_u8_ranged)(const uint8_t* in, const ConvGeometry& g, const DepthwiseQuantArgs& a,
                          float* out, RangeLanes& range) = nullptr;
};

DepthwiseKernels depthwise_kernels_scalar();
DepthwiseKernels depthwise_kernels_avx2();
DepthwiseKernels depthwise_kernels_avx512();
// The AVX-512 table with u8 planes of 3x3-like geometries on VNNI (see
// depthwise_vnni.cpp): its u8 entries take only the geometries its
// writes_bytes accepts.
DepthwiseKernels depthwise_kernels_vnni();
// The table for layers of geometry `g` on the best ISA up to `active` (on
// VNNI, the AVX-512 table where the VNNI planes do not take `g`).
DepthwiseKernels depthwise_kernels(Isa active, const ConvGeometry& g);

}  // namespace sparq::kernels
