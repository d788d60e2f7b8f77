#include "importers/onnx/imported_quantization.hpp"

#include <algorithm>
#include <map>

#include "sparq/error.hpp"
#include "sparq/model_builder.hpp"
#include "sparq/pruning.hpp"
#include "sparq/quantized_layers.hpp"
#include "sparq/sparse_format.hpp"

namespace sparq::onnx_import {
namespace {

int kernel_taps(std::span<const float> w, size_t kernel) {
  int n = 0;
  for (size_t t = 0; t < 9; ++t) n += w[kernel * 9 + t] != 0.0f;
  return n;
}

bool is_sparse_candidate(const Conv2dOp& c) {
  return c.kernel_h == 3 && c.kernel_w == 3 && c.pad_h == 1 && c.pad_w == 1 && c.groups == 1 &&
         c.stride_h == c.stride_w && (c.stride_h == 1 || c.stride_h == 2);
}

bool makes_non_negative(const Node& n, const std::vector<bool>& non_negative) {
  auto act = [](Activation a) { return a == Activation::kRelu || a == Activation::kRelu6; };
  auto all_inputs = [&] {
    return std::all_of(n.inputs.begin(), n.inputs.end(),
                       [&](ValueId v) { return non_negative[static_cast<size_t>(v)]; });
  };
  return std::visit(
      [&](const auto& op) -> bool {
        using T = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<T, Conv2dOp> || std::is_same_v<T, FullyConnectedOp> ||
                      std::is_same_v<T, AddOp> || std::is_same_v<T, ActivationOp>) {
          return act(op.activation);
        } else if constexpr (std::is_same_v<T, Pool2dOp> || std::is_same_v<T, GlobalAvgPoolOp> ||
                             std::is_same_v<T, FlattenOp> || std::is_same_v<T, ConcatOp>) {
          return all_inputs();
        } else if constexpr (std::is_same_v<T, SigmoidOp> || std::is_same_v<T, SoftmaxOp>) {
          return true;
        } else if constexpr (std::is_same_v<T, ClampOp>) {
          return op.min >= 0.0f;
        } else {
          return false;
        }
      },
      n.op);
}

}  // namespace

TapCount count_taps(std::span<const float> weights, int out_channels, int in_channels) {
  TapCount c{0, true};
  const size_t kernels = static_cast<size_t>(out_channels) * static_cast<size_t>(in_channels);
  for (size_t k = 0; k < kernels; ++k) c.density = std::max(c.density, kernel_taps(weights, k));
  for (size_t k = 0; k < kernels; ++k)
    c.uniform = c.uniform && kernel_taps(weights, k) == c.density;
  c.density = std::max(c.density, 1);
  return c;
}

PatternSharing detect_sharing(std::span<const float> weights, int out_channels, int in_channels) {
  const TapCount taps = count_taps(weights, out_channels, in_channels);
  if (!taps.uniform || taps.density == 9) return {};
  std::vector<uint8_t> mask(weights.size());
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = weights[i] != 0.0f;
  PatternSharing best;
  for (int o = 1; o <= 64 && o <= out_channels; o *= 2) {
    for (int i = 1; i <= 64 && i <= in_channels; i *= 2) {
      if (o * i > best.out_group * best.in_group &&
          mask_respects_sharing(mask, out_channels, in_channels, {o, i})) {
        best = {o, i};
      }
    }
  }
  return best;
}

std::vector<uint8_t> density_mask(std::span<const float> weights, int out_channels, int in_channels,
                                  int density) {
  std::vector<uint8_t> mask(weights.size());
  const size_t kernels = static_cast<size_t>(out_channels) * static_cast<size_t>(in_channels);
  for (size_t k = 0; k < kernels; ++k) {
    int kept = 0;
    for (size_t t = 0; t < 9; ++t) {
      mask[k * 9 + t] = weights[k * 9 + t] != 0.0f;
      kept += mask[k * 9 + t];
    }
    for (size_t t = 0; t < 9 && kept < density; ++t) {
      if (!mask[k * 9 + t]) {
        mask[k * 9 + t] = 1;
        ++kept;
      }
    }
  }
  return mask;
}

QuantizedGraph quantize_imported(const Graph& graph, int act_bits) {
  if (act_bits != 8 && act_bits != 4) {
    throw Error(ErrorCode::kInvalidArgument, "activation bits must be 8 or 4");
  }
  ModelBuilder b;
  QuantizedGraph out;
  std::vector<ValueId> map(graph.values.size(), -1);
  std::vector<bool> non_negative(graph.values.size(), false);
  const Value& in = graph.value(graph.input);
  map[static_cast<size_t>(graph.input)] = b.input(in.shape, in.dtype, in.name);
  std::map<std::tuple<ValueId, int, bool>, ValueId> quantized;  // one per value and format
  size_t node_index = 0;
  auto record = [&](size_t from) {
    while (out.source_node.size() < b.graph().nodes.size()) out.source_node.push_back(from);
  };
  auto quantize = [&](ValueId v, int bits, const std::string& name) {
    const bool is_signed = !non_negative[static_cast<size_t>(v)];
    if (is_signed) bits = 8;  // 4-bit activations are unsigned
    auto key = std::make_tuple(v, bits, is_signed);
    auto it = quantized.find(key);
    if (it != quantized.end()) return it->second;
    ValueId q = b.quantize(map[static_cast<size_t>(v)], bits, is_signed, name + "_quantize");
    quantized[key] = q;
    return q;
  };
  for (const Node& n : graph.nodes) {
    ValueId result = -1;
    if (const auto* conv = std::get_if<Conv2dOp>(&n.op)) {
      const int out_ch = static_cast<int>(conv->weights.shape()[0]);
      const int in_ch = static_cast<int>(conv->weights.shape()[1]);
      auto w = conv->weights.span<float>();
      const bool first = n.inputs[0] == graph.input;
      if (!first && is_sparse_candidate(*conv)) {
        ValueId q = quantize(n.inputs[0], act_bits, n.name);
        const int density = count_taps(w, out_ch, in_ch).density;
        const std::vector<uint8_t> mask = density_mask(w, out_ch, in_ch, density);
        // make_sparse_conv3x3 expects pruned taps at zero: they already are.
        result = b.sparse_conv3x3(
            q,
            make_sparse_conv3x3(w, mask, conv->bias, out_ch, in_ch, density, conv->stride_h,
                                detect_sharing(w, out_ch, in_ch), conv->activation),
            n.name);
      } else {
        ValueId q = quantize(n.inputs[0], 8, n.name);
        result = b.conv2d(q, make_s8_conv2d(*conv), n.name);
      }
    } else if (const auto* fc = std::get_if<FullyConnectedOp>(&n.op)) {
      ValueId q = quantize(n.inputs[0], 8, n.name);
      result = b.fully_connected(q, make_s8_fully_connected(*fc), n.name);
    } else {
      std::vector<ValueId> inputs;
      for (ValueId v : n.inputs) inputs.push_back(map[static_cast<size_t>(v)]);
      result = b.add_node(n.op, std::move(inputs), n.name);
    }
    non_negative[static_cast<size_t>(n.output)] = makes_non_negative(n, non_negative);
    map[static_cast<size_t>(n.output)] = result;
    record(node_index++);
  }
  for (ValueId o : graph.outputs) b.mark_output(map[static_cast<size_t>(o)]);
  out.graph = b.graph();
  return out;
}

}  // namespace sparq::onnx_import
