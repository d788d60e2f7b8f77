// The pruned N-of-9 3x3 convolution (pad 1, stride 1 or 2), read straight from
// the tap bytes: each kept tap adds value * (input plane shifted by the tap's
// position) to the output plane, as one row of the chip's array does.
// Accumulation is exact int32; the output goes through dequantize_accumulator.
// A fused residual (FusedResidual) then adds the second input to each plane
// as the AddOp would: act(y + r), or act(r + y) in the add's order.
#include <algorithm>
#include <vector>

#include "runtime/backends/accumulator_bound.hpp"
#include "runtime/backends/reference/reference_common.hpp"
#include "runtime/backends/reference/reference_nodes.hpp"
#include "sparq/error.hpp"
#include "sparq/quantization.hpp"
#include "sparq/sparse_format.hpp"

namespace sparq::reference {
namespace {

class SparseConv3x3Node : public CompiledNode {
 public:
  SparseConv3x3Node(const Graph& graph, const Node& node)
      : name_(node.name),
        op_(std::get<SparseConv3x3Op>(node.op)),
        inputs_{layout_of(graph, node.inputs[0]),
                op_.residual.enabled ? layout_of(graph, node.inputs[1]) : ValueLayout{}},
        output_(layout_of(graph, node.output)) {
    // The positions select input pixels, so they are checked here even though
    // graph validation already did: a kernel never trusts an index it reads.
    std::string problem =
        check_taps(op_.taps, op_.out_channels, op_.in_channels, op_.density, op_.sharing);
    if (!problem.empty()) {
      throw Error(ErrorCode::kInvalidModel, "node '" + name_ + "': taps: " + problem);
    }
    check_int32_accumulator(graph, node);
  }

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext&) const override {
    const size_t operands = op_.residual.enabled ? 2 : 1;
    const int64_t batch = check_views(name_, inputs, {inputs_, operands}, output, output_);
    for (int64_t n = 0; n < batch; ++n) {
      if (inputs_[0].dtype == DType::kU8) {
        run_sample<uint8_t>(inputs[0], output, n);
      } else {
        run_sample<int8_t>(inputs[0], output, n);
      }
    }
    if (op_.residual.enabled) add_residual(inputs[1].as<float>(), output.as<float>(), batch);
  }

  std::string kernel_name() const override {
    return "reference_sparse_conv3x3_k" + std::to_string(op_.density) + "_s" +
           std::to_string(op_.stride) + "_" + to_string(inputs_[0].dtype) +
           fused_output_suffix(output_.dtype) + (op_.residual.enabled ? "_add" : "");
  }

 private:
  template <typename In>
  void run_sample(const ConstTensorView& input, const TensorView& output, int64_t n) const {
    const int64_t in_h = inputs_[0].shape[1], in_w = inputs_[0].shape[2];
    const int64_t out_h = output_.shape[1], out_w = output_.shape[2];
    const int64_t plane_size = in_h * in_w;
    const In* x = input.as<In>() + n * op_.in_channels * plane_size;
    const int64_t y = n * op_.out_channels * out_h * out_w;
    const float act_scale = input.scales[n];
    const OutputQuantization& q = op_.output_quantization;
    if (q.enabled()) output.scales[n] = q.scale;
    std::vector<int32_t> acc(static_cast<size_t>(out_h * out_w));
    std::vector<float> plane;
    for (int o = 0; o < op_.out_channels; ++o) {
      std::fill(acc.begin(), acc.end(), 0);
      for (int i = 0; i < op_.in_channels; ++i) {
        const In* plane = x + i * plane_size;
        const size_t first_tap = (static_cast<size_t>(o) * op_.in_channels + i) * op_.density;
        for (int t = 0; t < op_.density; ++t) {
          const uint8_t tap = op_.taps[first_tap + static_cast<size_t>(t)];
          const int ky = tap_position(tap) / 3, kx = tap_position(tap) % 3;
          const int32_t value = tap_value(tap);
          // Pad 1: input row = oy * stride + ky - 1 (likewise for columns).
          const OutputRange rows = valid_outputs(in_h, out_h, op_.stride, ky - 1);
          const OutputRange cols = valid_outputs(in_w, out_w, op_.stride, kx - 1);
          for (int64_t oy = rows.begin; oy < rows.end; ++oy) {
            const In* row = plane + (oy * op_.stride + ky - 1) * in_w;
            int32_t* out = &acc[static_cast<size_t>(oy * out_w)];
            for (int64_t ox = cols.begin; ox < cols.end; ++ox) {
              out[ox] += static_cast<int32_t>(row[ox * op_.stride + kx - 1]) * value;
            }
          }
        }
      }
      const float weight_scale = op_.weight_scales[static_cast<size_t>(o)];
      const float bias = op_.bias[static_cast<size_t>(o)];
      store_output_plane(acc, act_scale, weight_scale, bias, op_.activation, q, output,
                         y + o * out_h * out_w, plane);
    }
  }

  // The AddOp's rule on the layer's values y and the residual r.
  void add_residual(const float* r, float* y, int64_t batch) const {
    const FusedResidual& add = op_.residual;
    const int64_t count = batch * output_.shape.elements();
    for (int64_t e = 0; e < count; ++e) {
      y[e] = apply_activation(add.residual_first ? r[e] + y[e] : y[e] + r[e], add.activation);
    }
  }

  std::string name_;
  SparseConv3x3Op op_;
  ValueLayout inputs_[2];  // the layer's input, then the residual (if fused)
  ValueLayout output_;
};

}  // namespace

std::unique_ptr<CompiledNode> compile_sparse_conv3x3(const Graph& graph, const Node& node) {
  return std::make_unique<SparseConv3x3Node>(graph, node);
}

}  // namespace sparq::reference
