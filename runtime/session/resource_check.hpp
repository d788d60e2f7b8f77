// What one inference costs, from the graph's shapes alone, and the checks of
// those costs against ResourceLimits. The session runs check_graph_limits
// before it compiles anything, then (once backends have chosen kernels and
// the arena is planned) compares its exact byte count with the same limit.
#pragma once

#include <cstdint>
#include <string>

#include "sparq/graph.hpp"
#include "sparq/limits.hpp"

namespace sparq {

// Operations of one sample through `node`: MACs of convolutions and dense
// layers (count_macs, dense), window taps of pooling, one per output element
// elsewhere. Saturates at INT64_MAX instead of wrapping.
int64_t node_operations(const Graph& graph, const Node& node);

// Bytes of everything a node stores (weights, taps, scales, biases).
int64_t node_weight_bytes(const Node& node);

// Bytes of one sample of `value`.
int64_t value_bytes(const Value& value);

// Throws Error(kInvalidModel) naming the node and the limit when one sample's
// operations, any single tensor, or the weights exceed `limits`.
void check_graph_limits(const Graph& graph, const ResourceLimits& limits);

// "4.00 GiB (4294967296 bytes)": how limits are shown in messages.
std::string describe_bytes(int64_t bytes);

}  // namespace sparq
