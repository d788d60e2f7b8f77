// The speed-up a pruned 3x3 layer should get on this CPU, before running it:
// the CPU kernel planner's cost estimate (docs/BREAK_EVEN.md) for the layer
// as dense (all 9 taps) divided by its estimate for the kept taps, on the ISA
// the CPU backend will use. Reaches into kernels/ on purpose: the planner is
// what picks the kernel, so it is the honest predictor.
#pragma once

#include "sparq/graph.hpp"

namespace sparq::cli {

// 0 when `node` is not a pruned 3x3 convolution.
double predicted_sparse_speedup(const Graph& graph, const Node& node);

}  // namespace sparq::cli
