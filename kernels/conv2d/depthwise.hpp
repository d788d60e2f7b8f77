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
// up to 4 columns wide skip the copy and go through the kernel in runs of
// consecutive channels (depthwise_vnni.cpp: exact int32 sums).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

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

// Consecutive channel planes [0, count) of one sample: plane i at
// in + i * in_h * in_w and out + i * out_h * out_w, each with its own
// weights, scale and bias, so that a kernel sets up what the planes share
// once for the run.
struct DepthwiseQuantRun {
  int64_t count = 1;
  const int32_t* row_quads = nullptr;    // [count][kernel_h]: depthwise_row_quads
  const float* weight_scales = nullptr;  // [count]
  const float* bias = nullptr;           // [count]
  float act_scale = 1.0f;
  Activation activation = Activation::kNone;
};

// The layout the run entries read the weights in, made once per layer: for
// each channel and kernel row, the row's taps as the bytes of one int32
// (tap kx in byte kx, zero past kernel_w). `weights` are the layer's
// [channels][kernel_h][kernel_w] values, -128..127; kernel_w <= 4.
std::vector<int32_t> depthwise_row_quads(const int32_t* weights, int64_t channels,
                                         const ConvGeometry& g);

struct DepthwiseKernels {
  Isa isa = Isa::kScalar;
  void (*plane_u8)(const uint8_t* in, const ConvGeometry& g, const DepthwiseQuantArgs& a,
                   float* out, float* scratch);
  void (*plane_s8)(const int8_t* in, const ConvGeometry& g, const DepthwiseQuantArgs& a, float* out,
                   float* scratch);
  void (*plane_f32)(const float* in, const ConvGeometry& g, const float* weights, float bias,
                    Activation activation, float* out, float* scratch);
  // Runs of u8 planes (no scratch), in tables that have them, for the
  // geometries takes_runs accepts; elsewhere the caller goes plane by plane.
  bool (*takes_runs)(const ConvGeometry& g) = nullptr;
  // f32 planes, as plane_u8.
  void (*run_u8)(const uint8_t* in, const ConvGeometry& g, const DepthwiseQuantRun& r,
                 float* out) = nullptr;
  // Straight to the bytes of a fused static quantize (elsewhere the caller
  // quantizes the f32 plane).
  void (*run_u8_to_bytes)(const uint8_t* in, const ConvGeometry& g, const DepthwiseQuantRun& r,
                          const FusedQuantize& q, uint8_t* out) = nullptr;
  // f32 planes that also widen `range` by every value stored, from the
  // registers (QuantizeKernels::widen_lanes's rule; after a ReLU or ReLU6
  // the maxima only, as widen_lanes_nonnegative); elsewhere the caller widens
  // the stored plane.
  void (*run_u8_ranged)(const uint8_t* in, const ConvGeometry& g, const DepthwiseQuantRun& r,
                        float* out, RangeLanes& range) = nullptr;
};

DepthwiseKernels depthwise_kernels_scalar();
DepthwiseKernels depthwise_kernels_avx2();
DepthwiseKernels depthwise_kernels_avx512();
// The AVX-512 table with runs of u8 planes of 3x3-like geometries on VNNI
// (see depthwise_vnni.cpp), for the geometries its takes_runs accepts.
DepthwiseKernels depthwise_kernels_vnni();
// The table for layers of geometry `g` on the best ISA up to `active` (on
// VNNI, the AVX-512 table where the VNNI runs do not take `g`).
DepthwiseKernels depthwise_kernels(Isa active, const ConvGeometry& g);

}  // namespace sparq::kernels
