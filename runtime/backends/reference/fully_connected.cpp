// Fully connected: y[o] = sum_i W[o, i] x[i] + b[o]. Float mode sums in
// ascending i starting from 0 and adds the bias last; quantized mode sums
// exactly in int32 and applies dequantize_accumulator.
#include <algorithm>
#include <vector>

#include "runtime/backends/accumulator_bound.hpp"
#include "runtime/backends/reference/reference_common.hpp"
#include "runtime/backends/reference/reference_nodes.hpp"
#include "sparq/quantization.hpp"

namespace sparq::reference {
namespace {

class FullyConnectedNode : public CompiledNode {
 public:
  FullyConnectedNode(const Graph& graph, const Node& node)
      : name_(node.name),
        op_(std::get<FullyConnectedOp>(node.op)),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)) {
    check_int32_accumulator(graph, node);
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
    if (op_.weights.dtype() == DType::kF32) return "reference_fully_connected_f32";
    return std::string("reference_fully_connected_") + to_string(input_.dtype) + "xs8";
  }

 private:
  void run_float(const ConstTensorView& input, const TensorView& output, int64_t n) const {
    const int64_t in = input_.shape[0], out = output_.shape[0];
    const float* x = input.as<float>() + n * in;
    const float* w = op_.weights.data<float>();
    float* y = output.as<float>() + n * out;
    for (int64_t o = 0; o < out; ++o) {
      float acc = 0.0f;
      for (int64_t i = 0; i < in; ++i) acc += w[o * in + i] * x[i];
      y[o] = apply_activation(acc + op_.bias[static_cast<size_t>(o)], op_.activation);
    }
  }

  template <typename In>
  void run_quantized(const ConstTensorView& input, const TensorView& output, int64_t n) const {
    const int64_t in = input_.shape[0], out = output_.shape[0];
    const In* x = input.as<In>() + n * in;
    const int8_t* w = op_.weights.data<int8_t>();
    float* y = output.as<float>() + n * out;
    for (int64_t o = 0; o < out; ++o) {
      int32_t acc = 0;
      for (int64_t i = 0; i < in; ++i) acc += static_cast<int32_t>(w[o * in + i]) * x[i];
      const auto oc = static_cast<size_t>(o);
      y[o] = apply_activation(
          dequantize_accumulator(acc, input.scales[n], op_.weight_scales[oc], op_.bias[oc]),
          op_.activation);
    }
  }

  std::string name_;
  FullyConnectedOp op_;
  ValueLayout input_, output_;
};

}  // namespace

std::unique_ptr<CompiledNode> compile_fully_connected(const Graph& graph, const Node& node) {
  return std::make_unique<FullyConnectedNode>(graph, node);
}

}  // namespace sparq::reference
