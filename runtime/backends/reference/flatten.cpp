// Flatten: [C, H, W] -> [C*H*W]. The bytes do not change; a quantized input's
// per-sample scales are passed on with them.
#include <algorithm>
#include <cstring>

#include "runtime/backends/reference/reference_common.hpp"
#include "runtime/backends/reference/reference_nodes.hpp"

namespace sparq::reference {
namespace {

class FlattenNode : public CompiledNode {
 public:
  FlattenNode(const Graph& graph, const Node& node)
      : name_(node.name),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)) {}

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext&) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    // The session may give input and output one buffer (flatten is a view).
    if (output.data != inputs[0].data) std::memmove(output.data, inputs[0].data, output.bytes());
    if (inputs[0].scales && output.scales && output.scales != inputs[0].scales) {
      std::copy(inputs[0].scales, inputs[0].scales + batch, output.scales);
    }
  }

  std::string kernel_name() const override { return "reference_flatten"; }

 private:
  std::string name_;
  ValueLayout input_, output_;
};

}  // namespace

std::unique_ptr<CompiledNode> compile_flatten(const Graph& graph, const Node& node) {
  return std::make_unique<FlattenNode>(graph, node);
}

}  // namespace sparq::reference
