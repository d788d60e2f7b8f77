// What a graph node asks of the chip: its convolution geometry or its
// post-processing work, how its operands are stored on chip, and whether the
// values it reads and writes can stay in the activation buffer.
#include <algorithm>
#include <string>
#include <variant>

#include "kernels/common/window_geometry.hpp"
#include "runtime/backends/device/device_model.hpp"
#include "runtime/core/checked_math.hpp"
#include "sparq/error.hpp"

namespace sparq::device {
namespace {

bool is_quantized_activation(DType t) {
  return t == DType::kU8 || t == DType::kS8;
}

// Bits one element of `v` occupies on chip. Quantized activations keep the
// width their quantizer produced (4 or 8; a quantize node, or a layer fused
// with its static quantize); the chip holds f32 graph values in
// fixed point of `intermediate_bits`.
int storage_bits(const Graph& graph, const GraphIndex& index, ValueId v,
                 const DeviceConfig& config) {
  const Value& value = graph.value(v);
  switch (value.dtype) {
    case DType::kF32:
      return config.intermediate_bits;
    case DType::kU8:
    case DType::kS8: {
      const Node* producer = index.producer[static_cast<size_t>(v)];
      if (producer) {
        if (const auto* q = std::get_if<QuantizeOp>(&producer->op)) return q->bits;
        // A convolution fused with its static quantize (fold_static_quantize).
        if (const auto* c = std::get_if<Conv2dOp>(&producer->op);
            c && c->output_quantization.enabled()) {
          return c->output_quantization.bits;
        }
        if (const auto* c = std::get_if<SparseConv3x3Op>(&producer->op);
            c && c->output_quantization.enabled()) {
          return c->output_quantization.bits;
        }
        // Max pooling keeps its quantized input's bytes.
        if (std::holds_alternative<Pool2dOp>(producer->op)) {
          return storage_bits(graph, index, producer->inputs[0], config);
        }
      }
      return 8;
    }
    case DType::kS4:
      return 4;
    case DType::kS32:
      return 32;
  }
  return 32;
}

int64_t storage_bytes_of(const Graph& graph, const GraphIndex& index, ValueId v,
                         const DeviceConfig& config) {
  const int64_t bits = graph.value(v).shape.elements() * storage_bits(graph, index, v, config);
  return (bits + 7) / 8;
}

// Inputs plus output of one node, per sample, as stored on chip.
int64_t footprint(const Graph& graph, const GraphIndex& index, const Node& node,
                  const DeviceConfig& config) {
  int64_t bytes = storage_bytes_of(graph, index, node.output, config);
  for (ValueId in : node.inputs) bytes += storage_bytes_of(graph, index, in, config);
  return bytes;
}

// See NodeWork::input_share_footprint.
int64_t share_footprint(const Graph& graph, const GraphIndex& index, ValueId v,
                        const DeviceConfig& config) {
  const auto slot = static_cast<size_t>(v);
  if (v == graph.input || index.is_output[slot]) return -1;
  const Node* producer = index.producer[slot];
  if (!producer || !device_supports(graph, *producer)) return -1;
  int64_t largest = footprint(graph, index, *producer, config);
  for (const Node* user : index.users[slot]) {
    if (!device_supports(graph, *user)) return -1;
    largest = std::max(largest, footprint(graph, index, *user, config));
  }
  return largest;
}

std::string conv_shape_text(const ConvShape& c) {
  std::string text = std::to_string(c.in_channels) + "->" + std::to_string(c.out_channels) + " " +
                     std::to_string(c.out_h) + "x" + std::to_string(c.out_w);
  if (c.kernel_h != 3 || c.kernel_w != 3) {
    text += " " + std::to_string(c.kernel_h) + "x" + std::to_string(c.kernel_w);
  }
  text += " s" + std::to_string(c.stride_h);
  text += c.sparse ? " k" + std::to_string(c.taps_per_kernel) : " dense";
  text += " w" + std::to_string(c.weight_bits) + "a" + std::to_string(c.activation_bits);
  return text;
}

ConvShape conv_geometry(const Graph& graph, const GraphIndex& index, const Node& node,
                        const DeviceConfig& config) {
  const Shape& in = graph.value(node.inputs[0]).shape;
  const Shape& out = graph.value(node.output).shape;
  ConvShape c;
  kernels::set_planes(c, in, out);
  c.activation_bits = storage_bits(graph, index, node.inputs[0], config);
  if (const auto* sparse = std::get_if<SparseConv3x3Op>(&node.op)) {
    c.stride_h = c.stride_w = sparse->stride;
    c.taps_per_kernel = sparse->density;
    c.sparse = true;
    c.weight_bits = 4;
  } else {
    const auto& conv = std::get<Conv2dOp>(node.op);
    kernels::set_window(c, conv);
    c.taps_per_kernel = conv.kernel_h * conv.kernel_w;
    c.weight_bits = conv.weights.dtype() == DType::kS4 ? 4 : 8;
  }
  return c;
}

// Element operations of the post-processing unit, per sample.
int64_t vector_work(const Graph& graph, const Node& node) {
  const int64_t out = graph.value(node.output).shape.elements();
  if (const auto* quantize = std::get_if<QuantizeOp>(&node.op)) {
    // Dynamic quantization reads the tensor twice: once for its maximum,
    // once to scale and round. A static scale needs only the second pass.
    const int64_t passes = quantize->scale > 0.0f ? 1 : 2;
    return passes * graph.value(node.inputs[0]).shape.elements();
  }
  if (const auto* pool = std::get_if<Pool2dOp>(&node.op)) {
    return saturating_mul({out, pool->kernel_h, pool->kernel_w});
  }
  if (std::holds_alternative<GlobalAvgPoolOp>(node.op)) {
    return graph.value(node.inputs[0]).shape.elements();
  }
  if (std::holds_alternative<AddOp>(node.op)) return 2 * out;
  return out;  // ActivationOp
}

}  // namespace

bool device_supports(const Graph& graph, const Node& node) {
  // A fused residual add or max pool is a host session's form (sessions
  // with a device keep the AddOp and the Pool2dOp, which the device models
  // as steps of their own).
  if (const auto* sparse = std::get_if<SparseConv3x3Op>(&node.op)) return !sparse->residual.enabled;
  if (const auto* conv = std::get_if<Conv2dOp>(&node.op)) {
    if (conv->pool.enabled) return false;
    // Quantized, ungrouped convolutions only: the array multiplies integers
    // and every row sees every input channel.
    const DType w = conv->weights.dtype();
    return (w == DType::kS4 || w == DType::kS8) && conv->groups == 1 && !node.inputs.empty() &&
           is_quantized_activation(graph.value(node.inputs[0]).dtype);
  }
  // Average pooling that excludes padding divides by a count per window, which
  // the modelled post-processing unit does not do.
  if (const auto* pool = std::get_if<Pool2dOp>(&node.op)) return pool->count_include_pad;
  return std::holds_alternative<QuantizeOp>(node.op) || std::holds_alternative<AddOp>(node.op) ||
         std::holds_alternative<ActivationOp>(node.op) ||
         std::holds_alternative<GlobalAvgPoolOp>(node.op);
}

bool device_runs(const Graph& graph, const GraphIndex& index, const Node& node,
                 const DeviceConfig& config) {
  if (!device_supports(graph, node)) return false;
  if (!std::holds_alternative<SparseConv3x3Op>(node.op) &&
      !std::holds_alternative<Conv2dOp>(node.op)) {
    return true;
  }
  return block_channel_weight_bytes(conv_geometry(graph, index, node, config), config) <=
         config.weight_buffer_bytes;
}

bool device_runs(const Graph& graph, const Node& node, const DeviceConfig& config) {
  return device_runs(graph, index_graph(graph), node, config);
}

int64_t device_weight_bytes(const Graph& graph, const GraphIndex& index,
                            const DeviceConfig& config) {
  int64_t total = 0;
  for (const Node& node : graph.nodes) {
    if (!device_supports(graph, node)) continue;
    if (!std::holds_alternative<SparseConv3x3Op>(node.op) &&
        !std::holds_alternative<Conv2dOp>(node.op)) {
      continue;
    }
    const ConvShape c = conv_geometry(graph, index, node, config);
    total += (c.out_channels * c.in_channels * int64_t{stored_kernel_bits(c, config)} + 7) / 8;
  }
  return total;
}

NodeWork describe_node(const Graph& graph, const Node& node, const DeviceConfig& config) {
  return describe_node(graph, index_graph(graph), node, config);
}

NodeWork describe_node(const Graph& graph, const GraphIndex& index, const Node& node,
                       const DeviceConfig& config) {
  if (!device_supports(graph, node)) {
    throw Error(ErrorCode::kUnsupported, "node '" + node.name + "' (" + op_name(node.op) +
                                             "): the device does not run this operation");
  }
  NodeWork work;
  work.name = node.name;
  work.op = op_name(node.op);
  work.macs = count_macs(graph, node);
  for (ValueId in : node.inputs) {
    work.input_bytes.push_back(storage_bytes_of(graph, index, in, config));
    work.input_share_footprint.push_back(share_footprint(graph, index, in, config));
  }
  work.output_bytes = storage_bytes_of(graph, index, node.output, config);
  work.output_share_footprint = share_footprint(graph, index, node.output, config);
  if (std::holds_alternative<SparseConv3x3Op>(node.op) ||
      std::holds_alternative<Conv2dOp>(node.op)) {
    work.is_conv = true;
    work.conv = conv_geometry(graph, index, node, config);
    work.tiling = plan_tiling(work.conv, config, node.name);
    work.shape_text = conv_shape_text(work.conv);
  } else {
    work.vector_elements = vector_work(graph, node);
  }
  return work;
}

}  // namespace sparq::device
