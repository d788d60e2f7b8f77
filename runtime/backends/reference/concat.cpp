// Concatenation along the first per-sample axis (channels of [C, H, W], or
// features of [F]): each sample's output is its inputs' bytes, one after the
// other, in input order.
#include <cstring>
#include <vector>

#include "runtime/backends/reference/reference_common.hpp"
#include "runtime/backends/reference/reference_nodes.hpp"

namespace sparq::reference {
namespace {

class ConcatNode : public CompiledNode {
 public:
  ConcatNode(const Graph& graph, const Node& node)
      : name_(node.name), output_(layout_of(graph, node.output)) {
    for (ValueId in : node.inputs) inputs_.push_back(layout_of(graph, in));
  }

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext&) const override {
    const int64_t batch = check_views(name_, inputs, inputs_, output, output_);
    const int64_t out_size = output_.shape.elements();
    for (int64_t n = 0; n < batch; ++n) {
      float* y = output.as<float>() + n * out_size;
      for (size_t i = 0; i < inputs_.size(); ++i) {
        const int64_t size = inputs_[i].shape.elements();
        std::memcpy(y, inputs[i].as<float>() + n * size, static_cast<size_t>(size) * sizeof(float));
        y += size;
      }
    }
  }

  std::string kernel_name() const override { return "reference_concat"; }

 private:
  std::string name_;
  std::vector<ValueLayout> inputs_;
  ValueLayout output_;
};

}  // namespace

std::unique_ptr<CompiledNode> compile_concat(const Graph& graph, const Node& node) {
  return std::make_unique<ConcatNode>(graph, node);
}

}  // namespace sparq::reference
