// The operations a sparq graph is made of, with their attributes and weights.
// Numerics follow docs/NUMERICS.md (the contract every backend implements bit
// for bit): quantized layers take u8/s8 activations with a per-tensor scale,
// accumulate in int32 and write float: y = fma(float(acc), s_act * s_w[o], b[o]).
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "sparq/tensor.hpp"

namespace sparq {

enum class Activation : uint8_t { kNone, kRelu, kRelu6 };
const char* to_string(Activation activation);

// Pattern sharing of a pruned layer: groups of `out_group` consecutive output
// channels x `in_group` consecutive input channels keep the same tap positions.
// 1 x 1 means every kernel chose its own taps.
struct PatternSharing {
  int out_group = 1;
  int in_group = 1;
  bool operator==(const PatternSharing&) const = default;
};

// f32 (or u8/s8) -> u8/s8: q = clamp(nearbyint(x / s)). Dynamic (scale 0):
// s is computed from each sample at run time, s = max(x) / qmax (signed:
// max|x| / 127). Static (scale > 0): s = scale for every sample, calibrated
// on data beforehand (sparq calibrate).
struct QuantizeOp {
  int bits = 8;            // 8, or 4 (u4 activations stored one per byte)
  bool is_signed = false;  // s8 with qmax 127; requires bits == 8
  float scale = 0.0f;      // 0: dynamic; otherwise the static scale
};

// The static quantize rule fused into a quantized convolution's output
// (graph pass fold_static_quantize): scale 0 keeps the f32 output; scale > 0
// writes q = clamp(nearbyint(y / scale)) of the f32 value y the layer computes
// (after its activation) as u8 (s8 when is_signed), with `scale` as every
// sample's output scale: exactly a QuantizeOp{bits, is_signed, scale} after it.
struct OutputQuantization {
  float scale = 0.0f;      // 0: f32 output
  int bits = 8;            // 8, or 4 (u4 stored one per byte)
  bool is_signed = false;  // s8 with qmax 127; requires bits == 8
  bool enabled() const { return scale != 0.0f; }
  bool operator==(const OutputQuantization&) const = default;
};

// u8/s8 -> f32: x = scale * q.
struct DequantizeOp {};

// A max pooling fused into the quantized convolution whose f32 output it
// alone reads (graph pass fold_max_pool; never stored in a model file): the
// node writes the pool's output, each window's largest convolution value by
// the Pool2dOp rule, so the full-size map is never written to memory and
// read back. The window as in Pool2dOp (padding below the kernel).
struct FusedMaxPool {
  bool enabled = false;
  int kernel_h = 2, kernel_w = 2;
  int stride_h = 2, stride_w = 2;
  int pad_h = 0, pad_w = 0;
  bool operator==(const FusedMaxPool&) const = default;
};

// Dense convolution, any kernel size, stride, padding and group count.
// Float mode: f32 input, f32 weights [O, I/groups, KH, KW].
// Quantized mode: u8/s8 input, s8 or s4 weights [O, I/groups, KH, KW] with
// per-output-channel `weight_scales`, int32 accumulation, f32 output (u8/s8
// with `output_quantization`).
struct Conv2dOp {
  int kernel_h = 3, kernel_w = 3;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;  // symmetric zero padding
  int groups = 1;
  Activation activation = Activation::kNone;
  Tensor weights;                          // f32, s8 or s4
  std::vector<float> weight_scales;        // quantized mode: one per output channel
  std::vector<float> bias;                 // one per output channel (may be all zero)
  OutputQuantization output_quantization;  // quantized mode only
  FusedMaxPool pool;  // enabled: the output is the pool's (quantized mode, f32 output)
};

// The pruned N-of-9 3x3 convolution (pad 1, stride 1 or 2): every kernel keeps
// exactly `density` taps, stored one byte per tap (docs/SPARSE_FORMAT.md):
// high nibble = position ky*3+kx, low nibble = signed 4-bit value.
// Kernel (o, i) is bytes [(o*I + i)*density, +density), positions increasing.
// Input u8/s8 (quantized), output f32 (u8/s8 with `output_quantization`).
// A residual add fused into the layer that produces one of its operands
// (graph pass fold_residual_add; never stored in a model file): the node
// reads a second input r, f32 of its output's shape, and writes
// act(y + r), or act(r + y) where the add took r first, y being the
// layer's own f32 output (after its activation): the AddOp's values, bit
// for bit.
struct FusedResidual {
  bool enabled = false;
  bool residual_first = false;  // the add's first operand was r
  Activation activation = Activation::kNone;
  bool operator==(const FusedResidual&) const = default;
};

struct SparseConv3x3Op {
  int stride = 1;
  int density = 9;  // k, taps kept per kernel, 1..9
  int out_channels = 0;
  int in_channels = 0;
  PatternSharing sharing;
  Activation activation = Activation::kNone;
  std::vector<uint8_t> taps;         // out_channels * in_channels * density bytes
  std::vector<float> weight_scales;  // one per output channel
  std::vector<float> bias;           // one per output channel
  OutputQuantization output_quantization;
  FusedResidual residual;  // enabled: input 1 is the residual (f32 output only)
};

// y = W x + b. Float mode: f32 input and weights [O, I].
// Quantized mode: u8/s8 input, s8 weights with per-output scales, f32 output.
struct FullyConnectedOp {
  Activation activation = Activation::kNone;
  Tensor weights;                    // [O, I], f32 or s8
  std::vector<float> weight_scales;  // quantized mode only
  std::vector<float> bias;
};

enum class PoolKind : uint8_t { kMax, kAverage };
// f32 [C, H, W] -> [C, OH, OW]. Max pooling also takes a u8/s8 tensor and
// keeps its dtype and per-sample scales (the largest byte is the byte of the
// largest value).
// Average pooling divides by the full window (padding counts as zero) when
// `count_include_pad`, else by the number of window taps inside the input.
struct Pool2dOp {
  PoolKind kind = PoolKind::kMax;
  int kernel_h = 2, kernel_w = 2;
  int stride_h = 2, stride_w = 2;
  int pad_h = 0, pad_w = 0;
  bool count_include_pad = true;
};

// [C, H, W] -> [C] mean over H x W. f32.
struct GlobalAvgPoolOp {};

// Element-wise sum of two f32 tensors of one shape (residual), then activation.
struct AddOp {
  Activation activation = Activation::kNone;
};

// Element-wise activation on f32.
struct ActivationOp {
  Activation activation = Activation::kRelu;
};

// [C, H, W] -> [C*H*W] (no data movement).
struct FlattenOp {};

// Softmax over the last axis of an f32 [F] tensor.
struct SoftmaxOp {};

// ---- operations for imported models (the reference backend runs them) ----

// y = x * scale[c] + shift[c] on f32 [C, H, W] or [C] (c the channel), or with
// one scale and one shift for every element: a standalone BatchNorm, or an
// addition / multiplication by a constant.
struct ChannelAffineOp {
  std::vector<float> scale;  // C entries, or 1
  std::vector<float> shift;  // same count as scale
};

enum class BinaryKind : uint8_t { kAdd, kSub, kMul };
// y = a (op) b on two f32 graph tensors. `b` has a's shape, or is [C] with a
// [C, H, W] (one value per channel, as ONNX broadcasts [C, 1, 1]), or is [1].
struct BroadcastBinaryOp {
  BinaryKind kind = BinaryKind::kAdd;
};

// y = 1 / (1 + exp(-x)) on f32.
struct SigmoidOp {};

// y = min(max(x, min), max) on f32 (an ONNX Clip that is not a ReLU / ReLU6).
struct ClampOp {
  float min = 0.0f;
  float max = 6.0f;
};

// Concatenation of f32 [C_i, H, W] (or [F_i]) inputs along the first axis.
struct ConcatOp {};

// y_j = x_j - max(x) - log(sum exp(x - max(x))) over an f32 [F] tensor.
struct LogSoftmaxOp {};

// New operations are appended at the end (the file's union tag is the position).
using OpAttrs =
    std::variant<QuantizeOp, DequantizeOp, Conv2dOp, SparseConv3x3Op, FullyConnectedOp, Pool2dOp,
                 GlobalAvgPoolOp, AddOp, ActivationOp, FlattenOp, SoftmaxOp, ChannelAffineOp,
                 BroadcastBinaryOp, SigmoidOp, ClampOp, ConcatOp, LogSoftmaxOp>;

// "conv2d", "sparse_conv3x3", ... (stable names used in files and reports).
const char* op_name(const OpAttrs& op);

// The activation an operation applies to its output (conv2d, sparse_conv3x3,
// fully_connected, add, activation; a sparse_conv3x3 with a fused residual
// add: the add's, applied last); kNone for every other operation.
Activation output_activation(const OpAttrs& op);

// Whether an operation's f32 output can hold no NaN and no -0: it ends in
// ReLU or ReLU6, which map both to +0 (docs/NUMERICS.md).
bool output_is_rectified(const OpAttrs& op);

}  // namespace sparq
