// Max and average pooling over windows, and global average pooling. f32;
// max also on u8/s8 (the largest byte, the scales passed on).
// Max: the window's largest value over the input pixels it covers (padding
// never wins), NaN propagates. Average: the window sum in row-major order
// (ky, then kx; padding adds nothing) divided by kernel_h * kernel_w, so
// padding counts as zero, or with count_include_pad = false divided by the
// number of window taps inside the input. Global: the plane sum in row-major order divided by
// H * W.
#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/backends/reference/reference_common.hpp"
#include "runtime/backends/reference/reference_nodes.hpp"

namespace sparq::reference {

// One f32 plane by the pooling rules above.
void pool_plane_f32(const float* x, float* y, const kernels::PoolGeometry& g, PoolKind kind,
                    bool count_include_pad) {
  // In 64 bits: a window of up to (2^31 - 1)^2 taps must not wrap an int.
  const float window_size = static_cast<float>(g.kernel_h * g.kernel_w);
  for (int64_t oy = 0; oy < g.out_h; ++oy) {
    for (int64_t ox = 0; ox < g.out_w; ++ox) {
      bool seen = false;
      float max = 0.0f, sum = 0.0f;
      int64_t inside = 0;
      for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
        const int64_t iy = oy * g.stride_h + ky - g.pad_h;
        if (iy < 0 || iy >= g.in_h) continue;
        for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
          const int64_t ix = ox * g.stride_w + kx - g.pad_w;
          if (ix < 0 || ix >= g.in_w) continue;
          const float v = x[iy * g.in_w + ix];
          // The first NaN in (ky, kx) order stays (nothing compares
          // greater than it, and a later NaN does not replace it); among
          // equal values (-0, +0) the first stays too.
          if (!seen || v > max || (std::isnan(v) && !std::isnan(max))) max = v;
          seen = true;
          sum += v;
          ++inside;
        }
      }
      // Graph validation keeps padding below the kernel size, so every
      // window covers at least one input pixel and `max` is always set.
      const float divisor = count_include_pad ? window_size : static_cast<float>(inside);
      y[oy * g.out_w + ox] = kind == PoolKind::kMax ? max : sum / divisor;
    }
  }
}

namespace {

class Pool2dNode : public CompiledNode {
 public:
  Pool2dNode(const Graph& graph, const Node& node)
      : name_(node.name),
        op_(std::get<Pool2dOp>(node.op)),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)) {}

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext&) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    const int64_t channels = input_.shape[0], in_h = input_.shape[1], in_w = input_.shape[2];
    const int64_t out_h = output_.shape[1], out_w = output_.shape[2];
    if (input_.dtype == DType::kU8) {
      max_bytes(inputs[0].as<uint8_t>(), output.as<uint8_t>(), batch * channels);
    } else if (input_.dtype == DType::kS8) {
      max_bytes(inputs[0].as<int8_t>(), output.as<int8_t>(), batch * channels);
    }
    if (input_.dtype != DType::kF32) {
      std::copy(inputs[0].scales, inputs[0].scales + batch, output.scales);
      return;
    }
    const kernels::PoolGeometry g = kernels::pool_geometry(op_, input_.shape, output_.shape);
    for (int64_t plane = 0; plane < batch * channels; ++plane) {
      pool_plane_f32(inputs[0].as<float>() + plane * in_h * in_w,
                     output.as<float>() + plane * out_h * out_w, g, op_.kind,
                     op_.count_include_pad);
    }
  }

  std::string kernel_name() const override {
    return op_.kind == PoolKind::kMax ? "reference_max_pool2d" : "reference_avg_pool2d";
  }

 private:
  // Max pooling of quantized planes: the largest byte over the window's input
  // pixels (u8 or s8 order, T).
  template <class T>
  void max_bytes(const T* x, T* y, int64_t planes) const {
    const int64_t in_h = input_.shape[1], in_w = input_.shape[2];
    const int64_t out_h = output_.shape[1], out_w = output_.shape[2];
    for (int64_t plane = 0; plane < planes; ++plane, x += in_h * in_w) {
      for (int64_t oy = 0; oy < out_h; ++oy) {
        for (int64_t ox = 0; ox < out_w; ++ox, ++y) {
          T best = std::numeric_limits<T>::lowest();
          for (int64_t ky = 0; ky < op_.kernel_h; ++ky) {
            const int64_t iy = oy * op_.stride_h + ky - op_.pad_h;
            if (iy < 0 || iy >= in_h) continue;
            for (int64_t kx = 0; kx < op_.kernel_w; ++kx) {
              const int64_t ix = ox * op_.stride_w + kx - op_.pad_w;
              if (ix >= 0 && ix < in_w) best = std::max(best, x[iy * in_w + ix]);
            }
          }
          *y = best;
        }
      }
    }
  }

  std::string name_;
  Pool2dOp op_;
  ValueLayout input_, output_;
};

class GlobalAvgPoolNode : public CompiledNode {
 public:
  GlobalAvgPoolNode(const Graph& graph, const Node& node)
      : name_(node.name),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)) {}

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext&) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    const int64_t plane_size = input_.shape[1] * input_.shape[2];
    for (int64_t plane = 0; plane < batch * input_.shape[0]; ++plane) {
      const float* x = inputs[0].as<float>() + plane * plane_size;
      float sum = 0.0f;
      for (int64_t p = 0; p < plane_size; ++p) sum += x[p];
      output.as<float>()[plane] = sum / static_cast<float>(plane_size);
    }
  }

  std::string kernel_name() const override { return "reference_global_avg_pool"; }

 private:
  std::string name_;
  ValueLayout input_, output_;
};

}  // namespace

std::unique_ptr<CompiledNode> compile_pool2d(const Graph& graph, const Node& node) {
  return std::make_unique<Pool2dNode>(graph, node);
}

std::unique_ptr<CompiledNode> compile_global_avg_pool(const Graph& graph, const Node& node) {
  return std::make_unique<GlobalAvgPoolNode>(graph, node);
}

}  // namespace sparq::reference
