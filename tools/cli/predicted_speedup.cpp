#include "tools/cli/predicted_speedup.hpp"

#include <vector>

#include "kernels/isa/isa.hpp"
#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"
#include "sparq/sparse_format.hpp"

namespace sparq::cli {

double predicted_sparse_speedup(const Graph& graph, const Node& node) {
  const auto* op = std::get_if<SparseConv3x3Op>(&node.op);
  if (!op || node.inputs.empty()) return 0;
  const Value& input = graph.value(node.inputs[0]);
  kernels::Sparse3x3Problem problem;
  problem.in_channels = op->in_channels;
  problem.out_channels = op->out_channels;
  problem.height = static_cast<int>(input.shape[1]);
  problem.width = static_cast<int>(input.shape[2]);
  problem.stride = op->stride;
  problem.density = op->density;
  problem.signed_input = input.dtype == DType::kS8;
  const kernels::Isa isa = kernels::active_isa();
  const auto pruned = kernels::SparseConv3x3Kernel::create(problem, op->taps, op->weight_scales,
                                                           op->bias, op->activation, isa);
  // The same layer with every tap kept (values do not change the cost).
  std::vector<uint8_t> dense_taps;
  dense_taps.reserve(static_cast<size_t>(op->out_channels) * op->in_channels * 9);
  for (int kernel = 0; kernel < op->out_channels * op->in_channels; ++kernel) {
    for (int position = 0; position < 9; ++position) dense_taps.push_back(make_tap(position, 1));
  }
  problem.density = 9;
  const auto dense = kernels::SparseConv3x3Kernel::create(problem, dense_taps, op->weight_scales,
                                                          op->bias, op->activation, isa);
  return pruned.estimated_cost() > 0 ? dense.estimated_cost() / pruned.estimated_cost() : 0;
}

}  // namespace sparq::cli
