// fold_residual_add: a sparse 3x3 convolution whose f32 output only a
// residual AddOp reads becomes one node that also reads the add's other
// operand and writes the add's value (FusedResidual), so the layer's output
// is never written to memory and read back for the add: the epilogue adds
// the residual while the layer's values are still in registers. The fused
// node takes the add's place in the node order (the other operand, such as
// a downsample shortcut, may be computed after the convolution), and each
// value it writes equals the unfused pair's (docs/NUMERICS.md).
#include <utility>
#include <variant>

#include "runtime/graph/fusion.hpp"
#include "sparq/graph.hpp"

namespace sparq {
namespace {

// The node able to absorb an add reading `v`: the sparse 3x3 convolution
// writing it in f32, not fused already; null otherwise.
const Node* fusable_layer(const GraphIndex& index, ValueId v) {
  const Node* producer = index.producer[static_cast<size_t>(v)];
  const auto* sparse = producer ? std::get_if<SparseConv3x3Op>(&producer->op) : nullptr;
  if (sparse == nullptr || sparse->output_quantization.enabled() || sparse->residual.enabled) {
    return nullptr;
  }
  return producer;
}

}  // namespace

Graph fold_residual_add(const Graph& graph, int* folded) {
  const GraphIndex index = index_graph(graph);
  GraphEdit edit(graph);
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& add = graph.nodes[n];
    const auto* add_op = std::get_if<AddOp>(&add.op);
    if (add_op == nullptr || add.inputs[0] == add.inputs[1]) continue;
    // The layer's operand: the first one a fusable layer writes for this add alone.
    for (int layer_input = 0; layer_input < 2; ++layer_input) {
      const ValueId y = add.inputs[static_cast<size_t>(layer_input)];
      const Node* layer = fusable_layer(index, y);
      if (layer == nullptr || sole_reader(index, y) != &add) continue;
      Node& fused = edit.absorb_into_reader(static_cast<size_t>(layer - graph.nodes.data()), n, y);
      std::get<SparseConv3x3Op>(fused.op).residual =
          FusedResidual{true, layer_input == 1, add_op->activation};
      fused.inputs.push_back(add.inputs[static_cast<size_t>(1 - layer_input)]);
      break;
    }
  }
  return std::move(edit).finish(folded);
}

}  // namespace sparq
