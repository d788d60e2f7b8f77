#include "kernels/common/window_geometry.hpp"
#include "sparq/graph.hpp"

namespace sparq {

MacCount count_macs(const Graph& graph, const Node& node) {
  const Value& out = graph.value(node.output);
  if (const auto* conv = std::get_if<Conv2dOp>(&node.op)) {
    const Shape& w = conv->weights.shape();
    int64_t positions = out.shape.elements();
    if (conv->pool.enabled) {  // the convolution's own planes, before the pool
      const kernels::ConvGeometry g =
          kernels::conv_geometry(*conv, graph.value(node.inputs[0]).shape, out.shape);
      positions = g.out_channels * g.out_h * g.out_w;
    }
    int64_t macs = positions * w[1] * w[2] * w[3];
    return {macs, macs};
  }
  if (const auto* sparse = std::get_if<SparseConv3x3Op>(&node.op)) {
    int64_t per_tap = out.shape.elements() * sparse->in_channels;
    return {per_tap * 9, per_tap * sparse->density};
  }
  if (const auto* fc = std::get_if<FullyConnectedOp>(&node.op)) {
    int64_t macs = fc->weights.shape().elements();
    return {macs, macs};
  }
  return {};
}

}  // namespace sparq
