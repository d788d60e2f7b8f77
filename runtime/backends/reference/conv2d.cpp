// Dense convolution (any kernel, stride, padding, groups), float and quantized.
// Loops run plane by plane (input channel, then ky, then kx, each adding its
// contribution to every output pixel), which keeps every pixel's float sum in
// the documented order: input channel, then ky, then kx (docs/NUMERICS.md).
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/common/window_geometry.hpp"
#include "runtime/backends/accumulator_bound.hpp"
#include "runtime/backends/integer_weights.hpp"
#include "runtime/backends/reference/reference_common.hpp"
#include "runtime/backends/reference/reference_nodes.hpp"
#include "sparq/error.hpp"
#include "sparq/quantization.hpp"

namespace sparq::reference {
namespace {

using kernels::ConvGeometry;

// Adds w * x[shifted] to every output pixel of `acc` for one kernel tap
// (ky, kx) of one input plane; pixels whose input lies in the padding get
// nothing. Acc is float (float mode) or int32 (quantized mode).
template <typename Acc, typename In, typename W>
void accumulate_tap(std::vector<Acc>& acc, const In* plane, W w, int64_t ky, int64_t kx,
                    const ConvGeometry& g) {
  const OutputRange rows = valid_outputs(g.in_h, g.out_h, g.stride_h, ky - g.pad_h);
  const OutputRange cols = valid_outputs(g.in_w, g.out_w, g.stride_w, kx - g.pad_w);
  for (int64_t oy = rows.begin; oy < rows.end; ++oy) {
    const In* row = plane + (oy * g.stride_h + ky - g.pad_h) * g.in_w;
    Acc* out = &acc[static_cast<size_t>(oy * g.out_w)];
    for (int64_t ox = cols.begin; ox < cols.end; ++ox) {
      out[ox] += static_cast<Acc>(row[ox * g.stride_w + kx - g.pad_w]) * static_cast<Acc>(w);
    }
  }
}

class Conv2dNode : public CompiledNode {
 public:
  Conv2dNode(const Graph& graph, const Node& node)
      : name_(node.name),
        op_(std::get<Conv2dOp>(node.op)),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)) {
    g_ = kernels::conv_geometry(op_, input_.shape, output_.shape);
    if (op_.pool.enabled) pool_ = kernels::fused_pool_geometry(op_.pool, g_);
    if (op_.weights.dtype() != DType::kF32) {
      check_int32_accumulator(graph, node);
      values_ = decode_integer_weights(op_.weights);
    }
  }

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext&) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    for (int64_t n = 0; n < batch; ++n) {
      if (op_.weights.dtype() == DType::kF32) {
        run_float(inputs[0], output, n);
      } else if (input_.dtype == DType::kU8) {
        run_quantized<uint8_t>(inputs[0], output, n);
      } else {
        run_quantized<int8_t>(inputs[0], output, n);
      }
    }
  }

  std::string kernel_name() const override {
    if (op_.weights.dtype() == DType::kF32) return "reference_conv2d_f32";
    return std::string("reference_conv2d_") + to_string(input_.dtype) + "x" +
           to_string(op_.weights.dtype()) + fused_output_suffix(output_.dtype) +
           (op_.pool.enabled ? "_max_pool" : "");
  }

 private:
  size_t weight_index(int64_t o, int64_t i, int64_t ky, int64_t kx) const {
    return static_cast<size_t>(((o * g_.in_per_group() + i) * g_.kernel_h + ky) * g_.kernel_w + kx);
  }

  // First input channel of output channel o's group.
  int64_t group_first_input(int64_t o) const { return o / g_.out_per_group() * g_.in_per_group(); }

  void run_float(const ConstTensorView& input, const TensorView& output, int64_t n) const {
    const float* x = input.as<float>() + n * g_.in_channels * g_.in_h * g_.in_w;
    float* y = output.as<float>() + n * g_.out_channels * g_.out_h * g_.out_w;
    const float* w = op_.weights.data<float>();
    std::vector<float> acc(static_cast<size_t>(g_.out_h * g_.out_w));
    for (int64_t o = 0; o < g_.out_channels; ++o) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t i = 0; i < g_.in_per_group(); ++i) {
        const float* plane = x + (group_first_input(o) + i) * g_.in_h * g_.in_w;
        for (int64_t ky = 0; ky < g_.kernel_h; ++ky) {
          for (int64_t kx = 0; kx < g_.kernel_w; ++kx) {
            accumulate_tap(acc, plane, w[weight_index(o, i, ky, kx)], ky, kx, g_);
          }
        }
      }
      float* out = y + o * g_.out_h * g_.out_w;
      const float bias = op_.bias[static_cast<size_t>(o)];
      for (size_t p = 0; p < acc.size(); ++p)
        out[p] = apply_activation(acc[p] + bias, op_.activation);
    }
  }

  template <typename In>
  void run_quantized(const ConstTensorView& input, const TensorView& output, int64_t n) const {
    const In* x = input.as<In>() + n * g_.in_channels * g_.in_h * g_.in_w;
    const int64_t out_plane = output_.shape[1] * output_.shape[2];
    const int64_t y = n * g_.out_channels * out_plane;
    const float act_scale = input.scales[n];
    const OutputQuantization& q = op_.output_quantization;
    if (q.enabled()) output.scales[n] = q.scale;
    std::vector<int32_t> acc(static_cast<size_t>(g_.out_h * g_.out_w));
    std::vector<float> plane;
    for (int64_t o = 0; o < g_.out_channels; ++o) {
      std::fill(acc.begin(), acc.end(), 0);
      for (int64_t i = 0; i < g_.in_per_group(); ++i) {
        const In* plane = x + (group_first_input(o) + i) * g_.in_h * g_.in_w;
        for (int64_t ky = 0; ky < g_.kernel_h; ++ky) {
          for (int64_t kx = 0; kx < g_.kernel_w; ++kx) {
            const int8_t w = values_[weight_index(o, i, ky, kx)];
            if (w != 0) accumulate_tap(acc, plane, w, ky, kx, g_);
          }
        }
      }
      const float weight_scale = op_.weight_scales[static_cast<size_t>(o)];
      const float bias = op_.bias[static_cast<size_t>(o)];
      if (op_.pool.enabled) {  // the layer's plane, then the pool's rule over it
        plane.resize(acc.size());
        dequantize_plane(acc, act_scale, weight_scale, bias, op_.activation, plane.data());
        pool_plane_f32(plane.data(), output.as<float>() + y + o * out_plane, pool_, PoolKind::kMax,
                       true);
        continue;
      }
      store_output_plane(acc, act_scale, weight_scale, bias, op_.activation, q, output,
                         y + o * out_plane, plane);
    }
  }

  std::string name_;
  Conv2dOp op_;
  ValueLayout input_, output_;
  ConvGeometry g_;
  kernels::PoolGeometry pool_;  // op_.pool enabled: the fused max pool's window
  std::vector<int8_t> values_;  // quantized mode: one int8 per weight, [O, I/groups, KH, KW]
};

}  // namespace

std::unique_ptr<CompiledNode> compile_conv2d(const Graph& graph, const Node& node) {
  return std::make_unique<Conv2dNode>(graph, node);
}

}  // namespace sparq::reference
