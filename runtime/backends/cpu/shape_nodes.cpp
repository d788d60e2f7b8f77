// Flatten (the bytes and per-sample scales pass through) and softmax (per
// sample; std::exp and the in-order sum of the reference, because a vector exp
// would round differently).
#include <algorithm>
#include <cstring>

#include "kernels/softmax/softmax.hpp"
#include "runtime/backends/cpu/cpu_common.hpp"
#include "runtime/backends/cpu/cpu_nodes.hpp"

namespace sparq::cpu {
namespace {

class FlattenNode : public CompiledNode {
 public:
  FlattenNode(const Graph& graph, const Node& node)
      : name_(node.name),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)) {}

  std::string kernel_name() const override {
    return kernel_label("flatten", kernels::Isa::kScalar);
  }

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext&) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    // The session may hand input and output the same buffer (flatten is a view).
    if (output.data != inputs[0].data) std::memmove(output.data, inputs[0].data, output.bytes());
    if (inputs[0].scales && output.scales && output.scales != inputs[0].scales) {
      std::copy(inputs[0].scales, inputs[0].scales + batch, output.scales);
    }
  }

 private:
  std::string name_;
  ValueLayout input_, output_;
};

class SoftmaxNode : public CompiledNode {
 public:
  SoftmaxNode(const Graph& graph, const Node& node)
      : name_(node.name),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)) {}

  std::string kernel_name() const override {
    return kernel_label("softmax", kernels::Isa::kScalar);
  }

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext& ctx) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    const int64_t features = input_.shape[0];
    parallel_ranges(batch, ctx.threads, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        kernels::softmax_row(inputs[0].as<float>() + n * features,
                             output.as<float>() + n * features, static_cast<size_t>(features));
      }
    });
  }

 private:
  std::string name_;
  ValueLayout input_, output_;
};

}  // namespace

std::unique_ptr<CompiledNode> compile_flatten(const Graph& graph, const Node& node) {
  return std::make_unique<FlattenNode>(graph, node);
}

std::unique_ptr<CompiledNode> compile_softmax(const Graph& graph, const Node& node) {
  return std::make_unique<SoftmaxNode>(graph, node);
}

}  // namespace sparq::cpu
