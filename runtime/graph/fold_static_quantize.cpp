// fold_static_quantize: a quantized convolution whose f32 output only a
// static QuantizeOp reads becomes one node writing that quantize's u8/s8
// value (OutputQuantization), so the f32 tensor is never written to memory
// and walked again. Each fused value equals the unfused pair's
// (docs/NUMERICS.md), so a session's results do not depend on the pass.
//
// A max pool between the two (ResNet's stem: conv, ReLU, max pool, then the
// quantize) is moved after the quantize: the convolution writes bytes and the
// pool runs on them. The quantize rule is non-decreasing in its input, so the
// largest byte of a window is the byte of its largest value, for every value
// but NaN (the f32 pool keeps a NaN, the quantize maps it to 0): the move is
// made only after a ReLU or ReLU6, whose output is never NaN.
#include <utility>
#include <variant>

#include "runtime/graph/fusion.hpp"
#include "sparq/graph.hpp"

namespace sparq {
namespace {

// The layer's fused output attribute, or null for a node that cannot take
// one: only quantized-mode convolutions (integer weights, u8/s8 input)
// without one already.
OutputQuantization* fusable_output(Node& node) {
  if (auto* conv = std::get_if<Conv2dOp>(&node.op)) {
    if (conv->weights.dtype() == DType::kF32) return nullptr;
    return conv->output_quantization.enabled() ? nullptr : &conv->output_quantization;
  }
  if (auto* sparse = std::get_if<SparseConv3x3Op>(&node.op)) {
    return sparse->output_quantization.enabled() ? nullptr : &sparse->output_quantization;
  }
  return nullptr;
}

const QuantizeOp* static_quantize(const Node* node) {
  const auto* quantize = node ? std::get_if<QuantizeOp>(&node->op) : nullptr;
  return quantize && quantize->scale > 0.0f ? quantize : nullptr;
}

}  // namespace

Graph fold_static_quantize(const Graph& graph, int* folded) {
  const GraphIndex index = index_graph(graph);
  GraphEdit edit(graph);
  Graph& out = edit.graph;
  for (size_t n = 0; n < out.nodes.size(); ++n) {
    Node& conv = out.nodes[n];
    OutputQuantization* fused = fusable_output(conv);
    if (fused == nullptr) continue;
    const auto value = static_cast<size_t>(conv.output);
    const Node* reader = sole_reader(index, conv.output);
    if (const QuantizeOp* quantize = static_quantize(reader)) {
      // conv -> quantize: the convolution writes the quantize's value.
      *fused = OutputQuantization{quantize->scale, quantize->bits, quantize->is_signed};
      edit.drop_node[static_cast<size_t>(reader - graph.nodes.data())] = true;
      edit.drop_value[value] = true;
      conv.output = reader->output;
      ++edit.fused;
      continue;
    }
    // conv -> max pool -> quantize: the convolution writes bytes of its own
    // shape, the pool reads them and writes the quantize's value.
    const auto* pool = reader ? std::get_if<Pool2dOp>(&reader->op) : nullptr;
    if (pool == nullptr || pool->kind != PoolKind::kMax || !output_is_rectified(conv.op)) {
      continue;
    }
    const Node* pool_reader = sole_reader(index, reader->output);
    const QuantizeOp* quantize = static_quantize(pool_reader);
    if (quantize == nullptr) continue;
    *fused = OutputQuantization{quantize->scale, quantize->bits, quantize->is_signed};
    out.values[value].dtype = graph.value(pool_reader->output).dtype;
    const auto pool_index = static_cast<size_t>(reader - graph.nodes.data());
    edit.drop_node[static_cast<size_t>(pool_reader - graph.nodes.data())] = true;
    edit.drop_value[static_cast<size_t>(reader->output)] = true;
    out.nodes[pool_index].output = pool_reader->output;
    ++edit.fused;
  }
  // Drop the quantize nodes and the f32 values no node produces any more.
  // The fused node (or the moved pool) now produces the quantize's value,
  // which no earlier node reads, so the order stays topological.
  return std::move(edit).finish(folded);
}

}  // namespace sparq
