#include "sparq/ops.hpp"

#include <type_traits>
#include <variant>

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

Activation output_activation(const OpAttrs& op) {
  return std::visit(
      [](const auto& o) {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, SparseConv3x3Op>) {
          // A fused residual add's activation comes last.
          return o.residual.enabled ? o.residual.activation : o.activation;
        } else if constexpr (std::is_same_v<T, Conv2dOp> || std::is_same_v<T, FullyConnectedOp> ||
                             std::is_same_v<T, AddOp> || std::is_same_v<T, ActivationOp>) {
          return o.activation;
        } else {
          return Activation::kNone;
        }
      },
      op);
}

bool output_is_rectified(const OpAttrs& op) {
  const Activation a = output_activation(op);
  return a == Activation::kRelu || a == Activation::kRelu6;
}

}  // namespace sparq
