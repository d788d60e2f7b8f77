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
  const char* operator()(const ChannelAffineOp&) const { return "channel_affine"; }
  const char* operator()(const BroadcastBinaryOp& op) const {
    switch (op.kind) {
      case BinaryKind::kAdd:
        return "broadcast_add";
      case BinaryKind::kSub:
        return "broadcast_sub";
      case BinaryKind::kMul:
        return "broadcast_mul";
    }
    return "broadcast_?";
  }
  const char* operator()(const SigmoidOp&) const { return "sigmoid"; }
  const char* operator()(const ClampOp&) const { return "clamp"; }
  const char* operator()(const ConcatOp&) const { return "concat"; }
  const char* operator()(const LogSoftmaxOp&) const { return "log_softmax"; }
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
