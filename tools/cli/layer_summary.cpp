#include "tools/cli/layer_summary.hpp"

#include <algorithm>
#include <iomanip>
#include <sstream>
#include <variant>

#include "tools/cli/predicted_speedup.hpp"

namespace sparq::cli {
namespace {

std::string activation_dtype(const Graph& graph, const Node& node) {
  return node.inputs.empty() ? "-" : to_string(graph.value(node.inputs[0]).dtype);
}

// Six significant digits: enough to tell calibrated scales apart in a table.
std::string scale_text(float scale) {
  std::ostringstream out;
  out << std::setprecision(6) << scale;
  return out.str();
}

// A layer fused with its static quantize (fold_static_quantize) writes
// u8/s8: " -> u8 s=0.0213", and the scale it writes is the activation scale.
void describe_fused_output(const OutputQuantization& q, LayerSummary& s) {
  if (!q.enabled()) return;
  const std::string format = q.is_signed ? "s8" : "u" + std::to_string(q.bits);
  s.quantization += " -> " + format + " s=" + scale_text(q.scale);
  s.activation_scale = q.scale;
}

void describe_weights(const Graph& graph, const Node& node, LayerSummary& s) {
  std::visit(
      [&](const auto& op) {
        using Op = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<Op, SparseConv3x3Op>) {
          s.density = op.density;
          s.sharing = op.sharing == PatternSharing{} ? "none"
                                                     : std::to_string(op.sharing.out_group) + "x" +
                                                           std::to_string(op.sharing.in_group);
          s.weight_count = int64_t{op.out_channels} * op.in_channels * 9;
          s.packed_bytes = static_cast<int64_t>(op.taps.size());
          s.quantization = "s4 w/channel, " + activation_dtype(graph, node) + " act";
          describe_fused_output(op.output_quantization, s);
        } else if constexpr (std::is_same_v<Op, Conv2dOp> || std::is_same_v<Op, FullyConnectedOp>) {
          s.weight_count = op.weights.shape().elements();
          s.packed_bytes = static_cast<int64_t>(op.weights.bytes());
          s.quantization = op.weights.dtype() == DType::kF32
                               ? std::string("f32")
                               : std::string(to_string(op.weights.dtype())) + " w/channel, " +
                                     activation_dtype(graph, node) + " act";
          if constexpr (std::is_same_v<Op, Conv2dOp>) {
            describe_fused_output(op.output_quantization, s);
          }
        } else if constexpr (std::is_same_v<Op, QuantizeOp>) {
          const std::string format = (op.is_signed ? "s" : "u") + std::to_string(op.bits);
          s.activation_scale = op.scale;
          s.quantization = op.scale > 0.0f ? "static " + format + " s=" + scale_text(op.scale)
                                           : "dynamic " + format + " per sample";
        } else if constexpr (std::is_same_v<Op, DequantizeOp>) {
          s.quantization = "to f32";
        } else {
          s.quantization = to_string(graph.value(node.output).dtype);
        }
      },
      node.op);
  if (s.weight_count > 0) {
    s.dense_s4_bytes = (s.weight_count + 1) / 2;
    s.fp32_bytes = s.weight_count * 4;
  }
}

}  // namespace

std::vector<LayerSummary> summarize_layers(const Model& model) {
  const Graph& graph = model.graph();
  std::shared_ptr<const Backend> cpu;
  const auto names = BackendRegistry::names();
  if (std::find(names.begin(), names.end(), "cpu") != names.end())
    cpu = BackendRegistry::get("cpu");
  std::vector<LayerSummary> layers;
  for (const Node& node : graph.nodes) {
    LayerSummary s;
    s.name = node.name;
    s.op = op_name(node.op);
    s.input_shape = node.inputs.empty() ? "-" : graph.value(node.inputs[0]).shape.to_string();
    s.output_shape = graph.value(node.output).shape.to_string();
    s.macs = count_macs(graph, node);
    describe_weights(graph, node, s);
    s.predicted_speedup = predicted_sparse_speedup(graph, node);
    if (cpu) {
      s.cpu_kernel = cpu->supports(graph, node) ? cpu->compile(graph, node)->kernel_name()
                                                : "(not on cpu: reference)";
    }
    layers.push_back(std::move(s));
  }
  return layers;
}

int uniform_density(const Model& model) {
  int k = -1;
  for (const Node& node : model.graph().nodes) {
    if (const auto* sparse = std::get_if<SparseConv3x3Op>(&node.op)) {
      if (k != -1 && k != sparse->density) return 0;
      k = sparse->density;
    }
  }
  return k == -1 ? 9 : k;
}

}  // namespace sparq::cli
