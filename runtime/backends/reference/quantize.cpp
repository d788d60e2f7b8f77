// The boundaries of the numerics contract. Quantize takes each sample's
// scale from that sample alone (dynamic quantization) or from the node
// (static: the calibrated scale) and writes it to output.scales; dequantize
// multiplies back: x = scale * q.
#include <span>

#include "runtime/backends/reference/reference_common.hpp"
#include "runtime/backends/reference/reference_nodes.hpp"
#include "sparq/quantization.hpp"

namespace sparq::reference {
namespace {

class QuantizeNode : public CompiledNode {
 public:
  QuantizeNode(const Graph& graph, const Node& node)
      : name_(node.name),
        op_(std::get<QuantizeOp>(node.op)),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)) {}

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext&) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    const auto sample_size = static_cast<size_t>(input_.shape.elements());
    for (int64_t n = 0; n < batch; ++n) {
      const auto offset = static_cast<size_t>(n) * sample_size;
      std::span<const float> x(inputs[0].as<float>() + offset, sample_size);
      const float scale =
          op_.scale > 0.0f ? op_.scale : activation_scale(x, op_.bits, op_.is_signed);
      output.scales[n] = scale;
      if (op_.is_signed) {
        quantize_activations_s8(x, scale, {output.as<int8_t>() + offset, sample_size});
      } else {
        quantize_activations_u8(x, scale, op_.bits, {output.as<uint8_t>() + offset, sample_size});
      }
    }
  }

  std::string kernel_name() const override {
    const std::string format = op_.is_signed ? "s8" : "u" + std::to_string(op_.bits);
    return "reference_quantize_" + format + (op_.scale > 0.0f ? "_static" : "");
  }

 private:
  std::string name_;
  QuantizeOp op_;
  ValueLayout input_, output_;
};

class DequantizeNode : public CompiledNode {
 public:
  DequantizeNode(const Graph& graph, const Node& node)
      : name_(node.name),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)) {}

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext&) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    const int64_t sample_size = input_.shape.elements();
    for (int64_t n = 0; n < batch; ++n) {
      const float scale = inputs[0].scales[n];
      float* y = output.as<float>() + n * sample_size;
      for (int64_t e = 0; e < sample_size; ++e) {
        const int64_t index = n * sample_size + e;
        const float q = input_.dtype == DType::kU8
                            ? static_cast<float>(inputs[0].as<uint8_t>()[index])
                            : static_cast<float>(inputs[0].as<int8_t>()[index]);
        y[e] = scale * q;
      }
    }
  }

  std::string kernel_name() const override {
    return std::string("reference_dequantize_") + to_string(input_.dtype);
  }

 private:
  std::string name_;
  ValueLayout input_, output_;
};

}  // namespace

std::unique_ptr<CompiledNode> compile_quantize(const Graph& graph, const Node& node) {
  return std::make_unique<QuantizeNode>(graph, node);
}

std::unique_ptr<CompiledNode> compile_dequantize(const Graph& graph, const Node& node) {
  return std::make_unique<DequantizeNode>(graph, node);
}

}  // namespace sparq::reference
