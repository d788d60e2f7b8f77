#include "sparq_training/graph_net.hpp"

#include <limits>
#include <string>

#include "importers/onnx/imported_quantization.hpp"
#include "sparq/error.hpp"

namespace sparq::training {
namespace {

torch::Tensor from_floats(std::span<const float> values, std::vector<int64_t> shape) {
  return torch::tensor(std::vector<float>(values.begin(), values.end())).view(shape).clone();
}

std::vector<float> to_floats(const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

torch::Tensor activate(const torch::Tensor& x, Activation a) {
  switch (a) {
    case Activation::kRelu:
      return torch::relu(x);
    case Activation::kRelu6:
      return torch::clamp(x, 0.0, 6.0);
    case Activation::kNone:
      break;
  }
  return x;
}

// [C] per-channel values as [1, C, 1, 1] against an [N, C, H, W] tensor (or
// [1, C] against [N, C]); a single value broadcasts as it is.
torch::Tensor per_channel(const torch::Tensor& v, int64_t rank) {
  if (v.numel() == 1) return v;
  std::vector<int64_t> shape(static_cast<size_t>(rank), 1);
  shape[1] = v.numel();
  return v.view(shape);
}

// Pooling with the padding written out: max pooling never picks a padded
// tap (-inf), average pooling divides by the window or by the taps inside
// the input. torch's own padding is limited to half the kernel; sparq's is not.
torch::Tensor pool(const torch::Tensor& x, const Pool2dOp& op) {
  const std::vector<int64_t> pad = {op.pad_w, op.pad_w, op.pad_h, op.pad_h};
  const std::vector<int64_t> kernel = {op.kernel_h, op.kernel_w};
  const std::vector<int64_t> stride = {op.stride_h, op.stride_w};
  if (op.kind == PoolKind::kMax) {
    return torch::max_pool2d(
        torch::constant_pad_nd(x, pad, -std::numeric_limits<double>::infinity()), kernel, stride);
  }
  torch::Tensor mean_of_window =
      torch::avg_pool2d(torch::constant_pad_nd(x, pad, 0.0), kernel, stride);
  if (op.count_include_pad) return mean_of_window;
  torch::Tensor inside = torch::avg_pool2d(
      torch::constant_pad_nd(torch::ones({1, 1, x.size(2), x.size(3)}, x.options()), pad, 0.0),
      kernel, stride);
  return mean_of_window / inside;
}

// The value `v` of a quantized graph is made by a QuantizeOp: its format.
const QuantizeOp& producer_quantize(const Graph& g, ValueId v) {
  for (const Node& n : g.nodes) {
    if (n.output == v) {
      if (const auto* q = std::get_if<QuantizeOp>(&n.op)) return *q;
      break;
    }
  }
  throw Error(ErrorCode::kInternal,
              "quantized layer input '" + g.value(v).name + "' is not made by a quantize node");
}

}  // namespace

GraphNetImpl::GraphNetImpl(std::shared_ptr<const Model> source) : source_(std::move(source)) {
  const Graph& g = source_->graph();
  weight_.resize(g.nodes.size());
  bias_.resize(g.nodes.size());
  mask_.resize(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const std::string id = "n" + std::to_string(i);
    auto require_float = [&](const Tensor& w) {
      if (w.dtype() != DType::kF32) {
        throw Error(ErrorCode::kInvalidArgument,
                    "node '" + n.name + "' (" + op_name(n.op) +
                        ") has quantized weights: training needs a float model (sparq import "
                        "without --quantize)");
      }
    };
    if (const auto* c = std::get_if<Conv2dOp>(&n.op)) {
      require_float(c->weights);
      weight_[i] = register_parameter(
          id + "_weight", from_floats(c->weights.span<float>(), c->weights.shape().dims()));
      bias_[i] = register_parameter(id + "_bias", from_floats(c->bias, {int64_t(c->bias.size())}));
    } else if (const auto* f = std::get_if<FullyConnectedOp>(&n.op)) {
      require_float(f->weights);
      weight_[i] = register_parameter(
          id + "_weight", from_floats(f->weights.span<float>(), f->weights.shape().dims()));
      bias_[i] = register_parameter(id + "_bias", from_floats(f->bias, {int64_t(f->bias.size())}));
    } else if (const auto* a = std::get_if<ChannelAffineOp>(&n.op)) {
      weight_[i] =
          register_parameter(id + "_scale", from_floats(a->scale, {int64_t(a->scale.size())}));
      bias_[i] =
          register_parameter(id + "_shift", from_floats(a->shift, {int64_t(a->shift.size())}));
    } else if (std::holds_alternative<QuantizeOp>(n.op) ||
               std::holds_alternative<DequantizeOp>(n.op) ||
               std::holds_alternative<SparseConv3x3Op>(n.op)) {
      throw Error(ErrorCode::kInvalidArgument,
                  "node '" + n.name + "' (" + op_name(n.op) +
                      ") is quantized: training needs a float model (sparq import without "
                      "--quantize)");
    }
  }
  for (int bits : {8, 4}) {
    const onnx_import::QuantizedGraph q = onnx_import::quantize_imported(g, bits);
    std::vector<NodePlan>& plan = bits == 8 ? plan_a8_ : plan_a4_;
    plan.assign(g.nodes.size(), {});
    for (size_t j = 0; j < q.graph.nodes.size(); ++j) {
      const Node& n = q.graph.nodes[j];
      NodePlan p;
      if (std::holds_alternative<SparseConv3x3Op>(n.op)) {
        p = {true, true, 8, false, 4};
      } else if (const auto* c = std::get_if<Conv2dOp>(&n.op);
                 c && c->weights.dtype() != DType::kF32) {
        p = {true, false, 8, false, 8};
      } else if (const auto* f = std::get_if<FullyConnectedOp>(&n.op);
                 f && f->weights.dtype() != DType::kF32) {
        p = {true, false, 8, false, 8};
      } else {
        continue;
      }
      const QuantizeOp& in = producer_quantize(q.graph, n.inputs[0]);
      p.act_bits = in.bits;
      p.act_signed = in.is_signed;
      plan[q.source_node[j]] = p;
    }
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (plan_a8_[i].sparse) {
      mask_[i] = register_buffer("n" + std::to_string(i) + "_mask", torch::ones_like(weight_[i]));
    }
  }
}

const GraphNetImpl::NodePlan& GraphNetImpl::plan(size_t index, int act_bits) const {
  return (act_bits == 4 ? plan_a4_ : plan_a8_)[index];
}

std::vector<MaskedWeight> GraphNetImpl::prunable() const {
  std::vector<MaskedWeight> result;
  for (size_t i = 0; i < mask_.size(); ++i) {
    if (mask_[i].defined()) {
      result.push_back({weight_[i], mask_[i], static_cast<int>(weight_[i].size(0)),
                        static_cast<int>(weight_[i].size(1))});
    }
  }
  return result;
}

Graph GraphNetImpl::float_graph() const {
  torch::NoGradGuard no_grad;
  Graph g = source_->graph();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!weight_[i].defined()) continue;
    torch::Tensor w = mask_[i].defined() ? weight_[i] * mask_[i] : weight_[i];
    std::visit(
        [&](auto& op) {
          using T = std::decay_t<decltype(op)>;
          if constexpr (std::is_same_v<T, Conv2dOp> || std::is_same_v<T, FullyConnectedOp>) {
            op.weights = Tensor::from_floats(op.weights.shape(), to_floats(w));
            op.bias = to_floats(bias_[i]);
          } else if constexpr (std::is_same_v<T, ChannelAffineOp>) {
            op.scale = to_floats(w);
            op.shift = to_floats(bias_[i]);
          }
        },
        g.nodes[i].op);
  }
  return g;
}

torch::Tensor GraphNetImpl::run_weighted(size_t i, const torch::Tensor& x, const QuantMode& mode) {
  const Node& n = source_->graph().nodes[i];
  torch::Tensor w = mask_[i].defined() ? weight_[i] * mask_[i] : weight_[i];
  const NodePlan& p = plan(i, mode.act_bits);
  const bool quantized = mode.enabled && p.quantized;
  QuantizedTensor qx, qw;
  if (quantized) {
    qx = quantize_activations(x, p.act_bits, p.act_signed, !mode.exact);
    qw = quantize_weights(w, p.weight_bits, !mode.exact);
  }
  // Integer-valued operands in quantized mode: the float convolution /
  // product is the exact int32 accumulation (every partial sum < 2^24).
  if (const auto* c = std::get_if<Conv2dOp>(&n.op)) {
    auto options = torch::nn::functional::Conv2dFuncOptions()
                       .stride({c->stride_h, c->stride_w})
                       .padding({c->pad_h, c->pad_w})
                       .groups(c->groups);
    if (!quantized) {
      return activate(torch::nn::functional::conv2d(x, w, options.bias(bias_[i])), c->activation);
    }
    torch::Tensor acc = torch::nn::functional::conv2d(qx.q, qw.q, options);
    return activate(rescale_accumulator(acc, qx.scale, qw.scale, bias_[i], mode.exact),
                    c->activation);
  }
  const auto& fc = std::get<FullyConnectedOp>(n.op);
  if (!quantized) return activate(torch::nn::functional::linear(x, w, bias_[i]), fc.activation);
  return activate(
      rescale_accumulator(qx.q.matmul(qw.q.t()), qx.scale, qw.scale, bias_[i], mode.exact),
      fc.activation);
}

torch::Tensor GraphNetImpl::run_node(size_t i, const std::vector<torch::Tensor>& values,
                                     const QuantMode& mode) {
  const Node& n = source_->graph().nodes[i];
  auto in = [&](size_t k) { return values[static_cast<size_t>(n.inputs[k])]; };
  return std::visit(
      [&](const auto& op) -> torch::Tensor {
        using T = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<T, Conv2dOp> || std::is_same_v<T, FullyConnectedOp>) {
          return run_weighted(i, in(0), mode);
        } else if constexpr (std::is_same_v<T, Pool2dOp>) {
          return pool(in(0), op);
        } else if constexpr (std::is_same_v<T, GlobalAvgPoolOp>) {
          return in(0).mean({2, 3});
        } else if constexpr (std::is_same_v<T, AddOp>) {
          return activate(in(0) + in(1), op.activation);
        } else if constexpr (std::is_same_v<T, ActivationOp>) {
          return activate(in(0), op.activation);
        } else if constexpr (std::is_same_v<T, FlattenOp>) {
          return in(0).flatten(1);
        } else if constexpr (std::is_same_v<T, SoftmaxOp>) {
          return torch::softmax(in(0), 1);
        } else if constexpr (std::is_same_v<T, LogSoftmaxOp>) {
          return torch::log_softmax(in(0), 1);
        } else if constexpr (std::is_same_v<T, ChannelAffineOp>) {
          const int64_t rank = in(0).dim();
          return in(0) * per_channel(weight_[i], rank) + per_channel(bias_[i], rank);
        } else if constexpr (std::is_same_v<T, BroadcastBinaryOp>) {
          torch::Tensor a = in(0), b = in(1);
          // [C] against [C, H, W] (per sample): one value per channel.
          if (b.dim() == 2 && a.dim() == 4 && b.size(1) == a.size(1)) {
            b = b.view({b.size(0), b.size(1), 1, 1});
          } else if (b.dim() == 2 && b.size(1) == 1 && a.dim() > 2) {
            std::vector<int64_t> shape(static_cast<size_t>(a.dim()), 1);
            shape[0] = b.size(0);
            b = b.view(shape);
          }
          switch (op.kind) {
            case BinaryKind::kAdd:
              return a + b;
            case BinaryKind::kSub:
              return a - b;
            case BinaryKind::kMul:
              return a * b;
          }
          return a;
        } else if constexpr (std::is_same_v<T, SigmoidOp>) {
          return torch::sigmoid(in(0));
        } else if constexpr (std::is_same_v<T, ClampOp>) {
          return torch::clamp(in(0), op.min, op.max);
        } else if constexpr (std::is_same_v<T, ConcatOp>) {
          std::vector<torch::Tensor> parts;
          for (size_t k = 0; k < n.inputs.size(); ++k) parts.push_back(in(k));
          return torch::cat(parts, 1);
        } else {
          throw Error(ErrorCode::kInvalidArgument,
                      "node '" + n.name + "' (" + op_name(n.op) + ") cannot be trained");
        }
      },
      n.op);
}

torch::Tensor GraphNetImpl::forward(const torch::Tensor& x, const QuantMode& mode) {
  const Graph& g = source_->graph();
  std::vector<torch::Tensor> values(g.values.size());
  values[static_cast<size_t>(g.input)] = x;
  const ValueId output = g.outputs.at(0);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const bool final_softmax = n.output == output && (std::holds_alternative<SoftmaxOp>(n.op) ||
                                                      std::holds_alternative<LogSoftmaxOp>(n.op));
    values[static_cast<size_t>(n.output)] = final_softmax && is_training()
                                                ? values[static_cast<size_t>(n.inputs[0])]
                                                : run_node(i, values, mode);
  }
  return values[static_cast<size_t>(output)];
}

}  // namespace sparq::training
