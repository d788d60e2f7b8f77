// Softmax over the features of each sample: m = max(x), e_j = exp(x_j - m),
// y_j = e_j / sum(e), the sum taken in ascending j. Subtracting the maximum
// keeps exp from overflowing; it does not change the result mathematically.
// Log-softmax: y_j = (x_j - m) - log(sum(e)), the same sum. The rule is
// written once, in kernels/softmax (scalar, libm's exp).
#include "kernels/softmax/softmax.hpp"
#include "runtime/backends/reference/reference_common.hpp"
#include "runtime/backends/reference/reference_nodes.hpp"

namespace sparq::reference {
namespace {

// One node for both forms.
class SoftmaxNode : public CompiledNode {
 public:
  SoftmaxNode(const Graph& graph, const Node& node, bool log_form)
      : name_(node.name),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)),
        log_form_(log_form) {}

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext&) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    const int64_t features = input_.shape[0];
    for (int64_t n = 0; n < batch; ++n) {
      const float* x = inputs[0].as<float>() + n * features;
      float* y = output.as<float>() + n * features;
      const auto count = static_cast<size_t>(features);
      if (log_form_) {
        kernels::log_softmax_row(x, y, count);
      } else {
        kernels::softmax_row(x, y, count);
      }
    }
  }

  std::string kernel_name() const override {
    return log_form_ ? "reference_log_softmax" : "reference_softmax";
  }

 private:
  std::string name_;
  ValueLayout input_, output_;
  bool log_form_;
};

}  // namespace

std::unique_ptr<CompiledNode> compile_log_softmax(const Graph& graph, const Node& node) {
  return std::make_unique<SoftmaxNode>(graph, node, /*log_form=*/true);
}

std::unique_ptr<CompiledNode> compile_softmax(const Graph& graph, const Node& node) {
  return std::make_unique<SoftmaxNode>(graph, node, /*log_form=*/false);
}

}  // namespace sparq::reference
