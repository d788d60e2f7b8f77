// Element-wise f32 operations that imported (ONNX) models need: the
// per-channel affine y = x * scale[c] + shift[c] (a product, then a sum: two
// roundings, as PyTorch's BatchNorm and constant arithmetic do), the
// broadcasting add / sub / mul of two graph tensors, sigmoid
// 1 / (1 + exp(-x)) and clamp min(max(x, lo), hi).
#include <cmath>

#include "runtime/backends/reference/reference_common.hpp"
#include "runtime/backends/reference/reference_nodes.hpp"

namespace sparq::reference {
namespace {

// Elements of one sample that share one channel value: H * W for [C, H, W],
// 1 for [C].
int64_t channel_stride(const Shape& shape) {
  return shape.rank() == 3 ? shape[1] * shape[2] : 1;
}

class ChannelAffineNode : public CompiledNode {
 public:
  ChannelAffineNode(const Graph& graph, const Node& node)
      : name_(node.name),
        op_(std::get<ChannelAffineOp>(node.op)),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)) {}

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext&) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    const int64_t per_sample = input_.shape.elements();
    const int64_t stride = channel_stride(input_.shape);
    const bool scalar = op_.scale.size() == 1;
    for (int64_t n = 0; n < batch; ++n) {
      const float* x = inputs[0].as<float>() + n * per_sample;
      float* y = output.as<float>() + n * per_sample;
      for (int64_t e = 0; e < per_sample; ++e) {
        const size_t c = scalar ? 0 : static_cast<size_t>(e / stride);
        const float product = x[e] * op_.scale[c];
        y[e] = product + op_.shift[c];
      }
    }
  }

  std::string kernel_name() const override { return "reference_channel_affine"; }

 private:
  std::string name_;
  ChannelAffineOp op_;
  ValueLayout input_, output_;
};

class BroadcastBinaryNode : public CompiledNode {
 public:
  BroadcastBinaryNode(const Graph& graph, const Node& node)
      : name_(node.name),
        kind_(std::get<BroadcastBinaryOp>(node.op).kind),
        inputs_{layout_of(graph, node.inputs[0]), layout_of(graph, node.inputs[1])},
        output_(layout_of(graph, node.output)) {}

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext&) const override {
    const int64_t batch = check_views(name_, inputs, inputs_, output, output_);
    const int64_t a_size = inputs_[0].shape.elements();
    const int64_t b_size = inputs_[1].shape.elements();
    // b is a's shape (stride 1), one value per channel, or a single value.
    const int64_t b_stride = b_size == a_size ? 1 : b_size == 1 ? a_size : a_size / b_size;
    for (int64_t n = 0; n < batch; ++n) {
      const float* a = inputs[0].as<float>() + n * a_size;
      const float* b = inputs[1].as<float>() + n * b_size;
      float* y = output.as<float>() + n * a_size;
      for (int64_t e = 0; e < a_size; ++e) y[e] = apply(a[e], b[e / b_stride]);
    }
  }

  std::string kernel_name() const override {
    return std::string("reference_") + op_name(BroadcastBinaryOp{kind_});
  }

 private:
  float apply(float a, float b) const {
    switch (kind_) {
      case BinaryKind::kAdd:
        return a + b;
      case BinaryKind::kSub:
        return a - b;
      case BinaryKind::kMul:
        return a * b;
    }
    return a;
  }

  std::string name_;
  BinaryKind kind_;
  ValueLayout inputs_[2];
  ValueLayout output_;
};

// One f32 input, one f32 output of the same shape, y = f(x).
template <typename Function>
class UnaryNode : public CompiledNode {
 public:
  UnaryNode(const Graph& graph, const Node& node, Function function, const char* kernel)
      : name_(node.name),
        function_(function),
        kernel_(kernel),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)) {}

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext&) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    const int64_t count = batch * output_.shape.elements();
    const float* x = inputs[0].as<float>();
    float* y = output.as<float>();
    for (int64_t e = 0; e < count; ++e) y[e] = function_(x[e]);
  }

  std::string kernel_name() const override { return kernel_; }

 private:
  std::string name_;
  Function function_;
  const char* kernel_;
  ValueLayout input_, output_;
};

template <typename Function>
std::unique_ptr<CompiledNode> make_unary(const Graph& graph, const Node& node, Function function,
                                         const char* kernel) {
  return std::make_unique<UnaryNode<Function>>(graph, node, function, kernel);
}

}  // namespace

std::unique_ptr<CompiledNode> compile_channel_affine(const Graph& graph, const Node& node) {
  return std::make_unique<ChannelAffineNode>(graph, node);
}

std::unique_ptr<CompiledNode> compile_broadcast_binary(const Graph& graph, const Node& node) {
  return std::make_unique<BroadcastBinaryNode>(graph, node);
}

std::unique_ptr<CompiledNode> compile_sigmoid(const Graph& graph, const Node& node) {
  return make_unary(
      graph, node, [](float x) { return 1.0f / (1.0f + std::exp(-x)); }, "reference_sigmoid");
}

std::unique_ptr<CompiledNode> compile_clamp(const Graph& graph, const Node& node) {
  const ClampOp op = std::get<ClampOp>(node.op);
  // NaN stays NaN (neither comparison holds), as in PyTorch's clamp.
  return make_unary(
      graph, node,
      [op](float x) {
        if (x < op.min) return op.min;
        if (x > op.max) return op.max;
        return x;
      },
      "reference_clamp");
}

}  // namespace sparq::reference
