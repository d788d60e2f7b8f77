// What the graph passes that fuse nodes share: finding a value's only
// reader, and removing the nodes and values a fusion absorbed (every other
// node kept in order, the values that stay renumbered, so ids stay dense).
#pragma once

#include <utility>
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

// A fusion pass's edit: the copy of the graph it rewrites, the nodes and
// values its fusions absorbed, and how many fusions it made.
struct GraphEdit {
  explicit GraphEdit(const Graph& source)
      : graph(source),
        drop_node(source.nodes.size(), false),
        drop_value(source.values.size(), false) {}

  // The edited graph without what was absorbed (drop_nodes); *folded (if
  // given) receives the count of fusions.
  Graph finish(int* folded) && {
    if (folded != nullptr) *folded = fused;
    if (fused == 0) return std::move(graph);
    return drop_nodes(std::move(graph), drop_node, drop_value);
  }

  // Fuses node `producer` into node `reader`, the only reader of its output
  // `value`: the producer's node (weights and all) moves into the reader's
  // slot, so it runs where the reader ran (after the reader's other
  // inputs), and writes the reader's output; the producer's slot and
  // `value` are dropped. Returns the moved node, for the caller to record
  // what it absorbed.
  Node& absorb_into_reader(size_t producer, size_t reader, ValueId value) {
    Node moved = std::move(graph.nodes[producer]);
    moved.output = graph.nodes[reader].output;
    graph.nodes[reader] = std::move(moved);
    drop_node[producer] = true;
    drop_value[static_cast<size_t>(value)] = true;
    ++fused;
    return graph.nodes[reader];
  }

  Graph graph;
  std::vector<bool> drop_node, drop_value;
  int fused = 0;
};

}  // namespace sparq
