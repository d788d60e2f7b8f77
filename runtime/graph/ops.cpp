#include "sparq/ops.hpp"

namespace sparq {
namespace {

struct OpNamer {
  const char* operator()(const QuantizeOp&) const { return "quantize"; }
  const char* operator()(const DequantizeOp&) const { return "dequantize"; }
  const char* operator()(const Conv2dOp&) const { return "conv2d"; }
  const char* operator()(const SparseConv3x3Op&) const { return "sparse_conv3x3"; }
  const char* operator()(const FullyConnectedOp&) const { return "fully_connected"; }
  const char* operator()(const Pool2dOp& op) const {
    return op.kind == PoolKind::kMax ? "max_pool2d" : "avg_pool2d";
  }
  const char* operator()(const GlobalAvgPoolOp&) const { return "global_avg_pool"; }
  const char* operator()(const AddOp&) const { return "add"; }
  const char* operator()(const ActivationOp&) const { return "activation"; }
  const char* operator()(const FlattenOp&) const { return "flatten"; }
  const char* operator()(const SoftmaxOp&) const { return "softmax"; }
};

}  // namespace

const char* op_name(const OpAttrs& op) {
  return std::visit(OpNamer{}, op);
}

const char* to_string(Activation activation) {
  switch (activation) {
    case Activation::kNone:
      return "none";
    case Activation::kRelu:
      return "relu";
    case Activation::kRelu6:
      return "relu6";
  }
  return "?";
}

}  // namespace sparq
