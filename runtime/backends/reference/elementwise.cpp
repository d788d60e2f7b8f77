// Element-wise f32 operations: the residual add (a + b, then the activation)
// and a standalone activation.
#include "runtime/backends/reference/reference_common.hpp"
#include "runtime/backends/reference/reference_nodes.hpp"

namespace sparq::reference {
namespace {

class AddNode : public CompiledNode {
 public:
  AddNode(const Graph& graph, const Node& node)
      : name_(node.name),
        activation_(std::get<AddOp>(node.op).activation),
        inputs_{layout_of(graph, node.inputs[0]), layout_of(graph, node.inputs[1])},
        output_(layout_of(graph, node.output)) {}

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext&) const override {
    const int64_t batch = check_views(name_, inputs, inputs_, output, output_);
    const int64_t count = batch * output_.shape.elements();
    const float* a = inputs[0].as<float>();
    const float* b = inputs[1].as<float>();
    float* y = output.as<float>();
    for (int64_t e = 0; e < count; ++e) y[e] = apply_activation(a[e] + b[e], activation_);
  }

  std::string kernel_name() const override { return "reference_add"; }

 private:
  std::string name_;
  Activation activation_;
  ValueLayout inputs_[2];
  ValueLayout output_;
};

class ActivationNode : public CompiledNode {
 public:
  ActivationNode(const Graph& graph, const Node& node)
      : name_(node.name),
        activation_(std::get<ActivationOp>(node.op).activation),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)) {}

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext&) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    const int64_t count = batch * output_.shape.elements();
    const float* x = inputs[0].as<float>();
    float* y = output.as<float>();
    for (int64_t e = 0; e < count; ++e) y[e] = apply_activation(x[e], activation_);
  }

  std::string kernel_name() const override {
    return std::string("reference_activation_") + to_string(activation_);
  }

 private:
  std::string name_;
  Activation activation_;
  ValueLayout input_, output_;
};

}  // namespace

std::unique_ptr<CompiledNode> compile_add(const Graph& graph, const Node& node) {
  return std::make_unique<AddNode>(graph, node);
}

std::unique_ptr<CompiledNode> compile_activation(const Graph& graph, const Node& node) {
  return std::make_unique<ActivationNode>(graph, node);
}

}  // namespace sparq::reference
