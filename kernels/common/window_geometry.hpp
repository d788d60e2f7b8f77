// The geometry of a windowed operator (convolution, pooling) per sample, and
// the op -> geometry mapping, written once for every backend's kernels.
// The output size rule is window_output_size below; graph inference
// (runtime/graph/infer_output.cpp) applies it after checking the window, and
// kernels take output sizes from the output shape, except where a kernel's
// own problem description has no shape (the sparse 3x3 kernel).
#pragma once

#include <cstdint>

#include "sparq/ops.hpp"
#include "sparq/shape.hpp"

namespace sparq::kernels {

// Output size along one axis of a window of `kernel` taps moved by `stride`
// over an input padded by `pad` on both sides (floor mode). The caller has
// checked that the window fits the padded input.
constexpr int64_t window_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  return (in + 2 * pad - kernel) / stride + 1;
}

struct ConvGeometry {
  int64_t in_channels = 0, in_h = 0, in_w = 0;
  int64_t out_channels = 0, out_h = 0, out_w = 0;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t groups = 1;
  int64_t in_per_group() const { return in_channels / groups; }
  int64_t out_per_group() const { return out_channels / groups; }
};

struct PoolGeometry {
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
};

// The op -> geometry mapping, for these structs and any other with the same
// field names (the device model's ConvShape). `in` and `out` are the
// per-sample [C, H, W] shapes of the node's operands.
template <typename Geometry>
void set_planes(Geometry& g, const Shape& in, const Shape& out) {
  if constexpr (requires { g.in_channels; }) {
    g.in_channels = in[0];
    g.out_channels = out[0];
  }
  g.in_h = in[1];
  g.in_w = in[2];
  g.out_h = out[1];
  g.out_w = out[2];
}

template <typename Geometry, typename WindowOp>
void set_window(Geometry& g, const WindowOp& op) {
  g.kernel_h = op.kernel_h;
  g.kernel_w = op.kernel_w;
  g.stride_h = op.stride_h;
  g.stride_w = op.stride_w;
  g.pad_h = op.pad_h;
  g.pad_w = op.pad_w;
}

// `out` is the node's output shape: with a fused max pool (Conv2dOp::pool),
// the pool's, and the convolution's own plane follows from the input.
inline ConvGeometry conv_geometry(const Conv2dOp& op, const Shape& in, const Shape& out) {
  ConvGeometry g;
  set_planes(g, in, out);
  set_window(g, op);
  g.groups = op.groups;
  if (op.pool.enabled) {
    g.out_h = window_output_size(g.in_h, g.kernel_h, g.stride_h, g.pad_h);
    g.out_w = window_output_size(g.in_w, g.kernel_w, g.stride_w, g.pad_w);
  }
  return g;
}

// The fused max pool's geometry over the convolution's planes (g: the
// convolution's, conv_geometry).
inline PoolGeometry fused_pool_geometry(const FusedMaxPool& pool, const ConvGeometry& g) {
  PoolGeometry p;
  p.in_h = g.out_h;
  p.in_w = g.out_w;
  set_window(p, pool);
  p.out_h = window_output_size(p.in_h, p.kernel_h, p.stride_h, p.pad_h);
  p.out_w = window_output_size(p.in_w, p.kernel_w, p.stride_w, p.pad_w);
  return p;
}

inline PoolGeometry pool_geometry(const Pool2dOp& op, const Shape& in, const Shape& out) {
  PoolGeometry g;
  set_planes(g, in, out);
  set_window(g, op);
  return g;
}

}  // namespace sparq::kernels
