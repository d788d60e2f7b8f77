// The "cpu" backend: SIMD kernels chosen per node for the active ISA
// (kernels::active_isa(), SPARQ_ISA caps it), oneTBB inside the session's
// arena. It supports every operation and is bit-identical to "reference".
#include <memory>
#include <variant>

#include "runtime/backends/cpu/cpu_nodes.hpp"
#include "sparq/backend.hpp"
#include "sparq/error.hpp"

namespace sparq {
namespace {

struct CpuCompiler {
  const Graph& graph;
  const Node& node;
  std::unique_ptr<CompiledNode> operator()(const QuantizeOp&) const {
    return cpu::compile_quantize(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const DequantizeOp&) const {
    return cpu::compile_dequantize(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const Conv2dOp&) const {
    return cpu::compile_conv2d(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const SparseConv3x3Op&) const {
    return cpu::compile_sparse_conv3x3(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const FullyConnectedOp&) const {
    return cpu::compile_fully_connected(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const Pool2dOp&) const {
    return cpu::compile_pool2d(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const GlobalAvgPoolOp&) const {
    return cpu::compile_global_avg_pool(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const AddOp&) const {
    return cpu::compile_add(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const ActivationOp&) const {
    return cpu::compile_activation(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const FlattenOp&) const {
    return cpu::compile_flatten(graph, node);
  }
  std::unique_ptr<CompiledNode> operator()(const SoftmaxOp&) const {
    return cpu::compile_softmax(graph, node);
  }
};

class CpuBackend : public Backend {
 public:
  std::string name() const override { return "cpu"; }

  bool supports(const Graph&, const Node&) const override { return true; }

  std::unique_ptr<CompiledNode> compile(const Graph& graph, const Node& node) const override {
    // Kernels index buffers by the node's shapes: the node must agree with
    // its inputs (infer_output throws, naming the node, when it does not).
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
    return std::visit(CpuCompiler{graph, node}, node.op);
  }
};

}  // namespace

std::shared_ptr<const Backend> make_cpu_backend() {
  return std::make_shared<const CpuBackend>();
}

}  // namespace sparq
