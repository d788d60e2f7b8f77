// What the graph passes that fuse nodes share: finding a value's only
// reader, and removing the nodes and values a fusion absorbed (every other
// node kept in order, the values that stay renumbered, so ids stay dense).
#pragma once

#include <vector>

#include "sparq/graph.hpp"

namespace sparq {

// The only reader of value `v`, or null (no reader, several, or a graph
// output).
const Node* sole_reader(const GraphIndex& index, ValueId v);

// `graph` without the nodes and values marked in `drop_node` and
// `drop_value` (one flag per node and per value). No node that stays may
// read or write a dropped value.
Graph drop_nodes(Graph graph, const std::vector<bool>& drop_node,
                 const std::vector<bool>& drop_value);

}  // namespace sparq
