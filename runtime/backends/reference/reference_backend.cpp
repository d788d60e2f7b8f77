// The reference backend: plain scalar code for every operation, the oracle of
// the numerics contract (docs/NUMERICS.md). It supports every node, so a
// session can always fall back to it.
#include <memory>

#include "runtime/backends/builtin_backends.hpp"
#include "runtime/backends/reference/reference_nodes.hpp"
#include "sparq/error.hpp"

namespace sparq {
namespace {

struct ReferenceCompiler {
  const Graph& graph;
  const Node& node;
  std::unique_ptr<CompiledNode> operator()(const QuantizeOp&) const {
    return reference::compile_quantize(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const DequantizeOp&) const {
    return reference::compile_dequantize(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const Conv2dOp&) const {
    return reference::compile_conv2d(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const SparseConv3x3Op&) const {
    return reference::compile_sparse_conv3x3(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const FullyConnectedOp&) const {
    return reference::compile_fully_connected(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const Pool2dOp&) const {
    return reference::compile_pool2d(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const GlobalAvgPoolOp&) const {
    return reference::compile_global_avg_pool(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const AddOp&) const {
    return reference::compile_add(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const ActivationOp&) const {
    return reference::compile_activation(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const FlattenOp&) const {
    return reference::compile_flatten(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const SoftmaxOp&) const {
    return reference::compile_softmax(graph, node);
  }
};

class ReferenceBackend : public Backend {
 public:
  std::string name() const override { return "reference"; }

  bool supports(const Graph&, const Node&) const override { return true; }

  std::unique_ptr<CompiledNode> compile(const Graph& graph, const Node& node) const override {
    // The kernels index buffers by the node's shapes, so the node must agree
    // with its inputs (infer_output throws, naming the node, when it does not).
    if (node.output < 0 || static_cast<size_t>(node.output) >= graph.values.size()) {
      throw Error(ErrorCode::kInvalidModel, "node '" + node.name +
                                                "': output refers to unknown value " +
                                                std::to_string(node.output));
    }
    const Value inferred = infer_output(graph, node);
    const Value& declared = graph.value(node.output);
    if (inferred.shape != declared.shape || inferred.dtype != declared.dtype) {
      throw Error(ErrorCode::kInvalidModel,
                  "node '" + node.name + "': output is declared " + to_string(declared.dtype) +
                      " " + declared.shape.to_string() + " but the operation gives " +
                      to_string(inferred.dtype) + " " + inferred.shape.to_string());
    }
    return std::visit(ReferenceCompiler{graph, node}, node.op);
  }
};

}  // namespace

std::shared_ptr<const Backend> make_reference_backend() {
  return std::make_shared<const ReferenceBackend>();
}

}  // namespace sparq
