// GraphIndex: producers, users and outputs of every value, in one pass.
#include "sparq/graph.hpp"

#include <atomic>

namespace sparq {

GraphIndex index_graph(const Graph& graph) {
  static std::atomic<uint64_t> next_id{1};
  GraphIndex index;
  index.id = next_id.fetch_add(1, std::memory_order_relaxed);
  index.producer.assign(graph.values.size(), nullptr);
  index.users.resize(graph.values.size());
  index.is_output.assign(graph.values.size(), false);
  for (const Node& n : graph.nodes) {
    index.producer.at(static_cast<size_t>(n.output)) = &n;
    for (ValueId in : n.inputs) {
      auto& users = index.users.at(static_cast<size_t>(in));
      // A node reading one value twice (add(x, x)) is one user.
      if (users.empty() || users.back() != &n) users.push_back(&n);
    }
  }
  for (ValueId out : graph.outputs) index.is_output.at(static_cast<size_t>(out)) = true;
  return index;
}

}  // namespace sparq
