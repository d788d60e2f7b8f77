#include "runtime/graph/fusion.hpp"

#include <utility>

namespace sparq {

const Node* sole_reader(const GraphIndex& index, ValueId v) {
  const auto value = static_cast<size_t>(v);
  if (index.is_output[value] || index.users[value].size() != 1) return nullptr;
  return index.users[value].front();
}

Graph drop_nodes(Graph graph, const std::vector<bool>& drop_node,
                 const std::vector<bool>& drop_value) {
  std::vector<ValueId> renumbered(graph.values.size(), -1);
  std::vector<Value> values;
  for (size_t v = 0; v < graph.values.size(); ++v) {
    if (drop_value[v]) continue;
    renumbered[v] = static_cast<ValueId>(values.size());
    values.push_back(std::move(graph.values[v]));
  }
  auto remap = [&](ValueId id) { return renumbered[static_cast<size_t>(id)]; };
  std::vector<Node> nodes;
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    if (drop_node[n]) continue;
    Node node = std::move(graph.nodes[n]);
    for (ValueId& in : node.inputs) in = remap(in);
    node.output = remap(node.output);
    nodes.push_back(std::move(node));
  }
  graph.values = std::move(values);
  graph.nodes = std::move(nodes);
  graph.input = remap(graph.input);
  for (ValueId& o : graph.outputs) o = remap(o);
  return graph;
}

}  // namespace sparq
