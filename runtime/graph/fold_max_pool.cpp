// fold_max_pool: a quantized convolution whose f32 output only a max pool
// reads becomes one node that writes the pool's output (FusedMaxPool), so
// the full-size map (ResNet-18's stem: 64 x 112 x 112 f32, 3.2 MB, more than
// a core's L2) is never written to memory and read back: the CPU node pools
// bands of rows while they are in cache. Each value it writes equals the
// unfused pair's (docs/NUMERICS.md).
#include <utility>
#include <variant>

#include "runtime/graph/fusion.hpp"
#include "sparq/graph.hpp"

namespace sparq {

Graph fold_max_pool(const Graph& graph, int* folded) {
  const GraphIndex index = index_graph(graph);
  GraphEdit edit(graph);
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& pool = graph.nodes[n];
    const auto* pool_op = std::get_if<Pool2dOp>(&pool.op);
    if (pool_op == nullptr || pool_op->kind != PoolKind::kMax) continue;
    const ValueId y = pool.inputs[0];
    if (graph.value(y).dtype != DType::kF32 || sole_reader(index, y) != &pool) continue;
    const Node* producer = index.producer[static_cast<size_t>(y)];
    const auto* conv = producer ? std::get_if<Conv2dOp>(&producer->op) : nullptr;
    if (conv == nullptr || conv->weights.dtype() == DType::kF32 ||
        conv->output_quantization.enabled() || conv->pool.enabled) {
      continue;
    }
    Node& fused = edit.absorb_into_reader(static_cast<size_t>(producer - graph.nodes.data()), n, y);
    std::get<Conv2dOp>(fused.op).pool = FusedMaxPool{
        true,           pool_op->kernel_h, pool_op->kernel_w, pool_op->stride_h, pool_op->stride_w,
        pool_op->pad_h, pool_op->pad_w};
  }
  return std::move(edit).finish(folded);
}

}  // namespace sparq
