#include "runtime/backends/node_compilers.hpp"

#include <string>
#include <variant>

#include "sparq/error.hpp"

namespace sparq {
namespace {

// The compiler of each operation type (a compile-time map from op to field,
// so adding an operation without a table entry fails to build).
NodeCompilers::Compile compiler_for(const NodeCompilers& c, const QuantizeOp&) {
  return c.quantize;
}
NodeCompilers::Compile compiler_for(const NodeCompilers& c, const DequantizeOp&) {
  return c.dequantize;
}
NodeCompilers::Compile compiler_for(const NodeCompilers& c, const Conv2dOp&) {
  return c.conv2d;
}
NodeCompilers::Compile compiler_for(const NodeCompilers& c, const SparseConv3x3Op&) {
  return c.sparse_conv3x3;
}
NodeCompilers::Compile compiler_for(const NodeCompilers& c, const FullyConnectedOp&) {
  return c.fully_connected;
}
NodeCompilers::Compile compiler_for(const NodeCompilers& c, const Pool2dOp&) {
  return c.pool2d;
}
NodeCompilers::Compile compiler_for(const NodeCompilers& c, const GlobalAvgPoolOp&) {
  return c.global_avg_pool;
}
NodeCompilers::Compile compiler_for(const NodeCompilers& c, const AddOp&) {
  return c.add;
}
NodeCompilers::Compile compiler_for(const NodeCompilers& c, const ActivationOp&) {
  return c.activation;
}
NodeCompilers::Compile compiler_for(const NodeCompilers& c, const FlattenOp&) {
  return c.flatten;
}
NodeCompilers::Compile compiler_for(const NodeCompilers& c, const SoftmaxOp&) {
  return c.softmax;
}
NodeCompilers::Compile compiler_for(const NodeCompilers& c, const ChannelAffineOp&) {
  return c.channel_affine;
}
NodeCompilers::Compile compiler_for(const NodeCompilers& c, const BroadcastBinaryOp&) {
  return c.broadcast_binary;
}
NodeCompilers::Compile compiler_for(const NodeCompilers& c, const SigmoidOp&) {
  return c.sigmoid;
}
NodeCompilers::Compile compiler_for(const NodeCompilers& c, const ClampOp&) {
  return c.clamp;
}
NodeCompilers::Compile compiler_for(const NodeCompilers& c, const ConcatOp&) {
  return c.concat;
}
NodeCompilers::Compile compiler_for(const NodeCompilers& c, const LogSoftmaxOp&) {
  return c.log_softmax;
}

}  // namespace

bool has_compiler(const NodeCompilers& compilers, const OpAttrs& op) {
  return std::visit([&](const auto& o) { return compiler_for(compilers, o) != nullptr; }, op);
}

std::unique_ptr<CompiledNode> compile_checked(const NodeCompilers& compilers, const char* backend,
                                              const Graph& graph, const Node& node) {
  if (node.output < 0 || static_cast<size_t>(node.output) >= graph.values.size()) {
    throw Error(
        ErrorCode::kInvalidModel,
        "node '" + node.name + "': output refers to unknown value " + std::to_string(node.output));
  }
  const Value inferred = infer_output(graph, node);
  const Value& declared = graph.value(node.output);
  if (inferred.shape != declared.shape || inferred.dtype != declared.dtype) {
    throw Error(ErrorCode::kInvalidModel,
                "node '" + node.name + "': output is declared " + to_string(declared.dtype) + " " +
                    declared.shape.to_string() + " but the operation gives " +
                    to_string(inferred.dtype) + " " + inferred.shape.to_string());
  }
  const NodeCompilers::Compile compile =
      std::visit([&](const auto& op) { return compiler_for(compilers, op); }, node.op);
  if (compile == nullptr) {
    throw Error(ErrorCode::kUnsupported,
                std::string("backend '") + backend + "' cannot compile node '" + node.name + "'");
  }
  return compile(graph, node);
}

}  // namespace sparq
