#include "runtime/session/resource_check.hpp"

#include <algorithm>
#include <cstdio>

#include "runtime/core/checked_math.hpp"
#include "sparq/error.hpp"

namespace sparq {
namespace {

int64_t shape_elements(const Shape& shape) {
  int64_t elements = 1;
  for (int64_t d : shape.dims()) elements = saturating_mul(elements, d);
  return elements;
}

int64_t float_bytes(const std::vector<float>& v) {
  return static_cast<int64_t>(v.size() * sizeof(float));
}

std::string count_text(int64_t count) {
  return count == kSaturated ? std::string("more than 2^63") : std::to_string(count);
}

[[noreturn]] void refuse(const Node& node, const std::string& what) {
  throw Error(ErrorCode::kInvalidModel,
              "node '" + node.name + "' (" + op_name(node.op) + "): " + what);
}

}  // namespace

std::string describe_bytes(int64_t bytes) {
  char text[64];
  std::snprintf(text, sizeof text, "%.2f GiB (%lld bytes)",
                static_cast<double>(bytes) / (1024.0 * 1024 * 1024), static_cast<long long>(bytes));
  return text;
}

int64_t value_bytes(const Value& value) {
  // Capped at 2^60 elements, so even 4-byte elements stay inside int64.
  const int64_t elements = std::min(shape_elements(value.shape), int64_t{1} << 60);
  return static_cast<int64_t>(storage_bytes(value.dtype, static_cast<size_t>(elements)));
}

int64_t node_operations(const Graph& graph, const Node& node) {
  const int64_t out = shape_elements(graph.value(node.output).shape);
  if (const auto* pool = std::get_if<Pool2dOp>(&node.op)) {
    return saturating_mul({out, pool->kernel_h, pool->kernel_w});
  }
  if (std::holds_alternative<Conv2dOp>(node.op) ||
      std::holds_alternative<SparseConv3x3Op>(node.op) ||
      std::holds_alternative<FullyConnectedOp>(node.op)) {
    return count_macs(graph, node).dense;
  }
  // Element-wise and reductions read each input element once.
  int64_t reads = 0;
  for (ValueId in : node.inputs)
    reads = saturating_add(reads, shape_elements(graph.value(in).shape));
  return saturating_add(reads, out);
}

int64_t node_weight_bytes(const Node& node) {
  if (const auto* conv = std::get_if<Conv2dOp>(&node.op)) {
    return static_cast<int64_t>(conv->weights.bytes()) + float_bytes(conv->weight_scales) +
           float_bytes(conv->bias);
  }
  if (const auto* sparse = std::get_if<SparseConv3x3Op>(&node.op)) {
    return static_cast<int64_t>(sparse->taps.size()) + float_bytes(sparse->weight_scales) +
           float_bytes(sparse->bias);
  }
  if (const auto* fc = std::get_if<FullyConnectedOp>(&node.op)) {
    return static_cast<int64_t>(fc->weights.bytes()) + float_bytes(fc->weight_scales) +
           float_bytes(fc->bias);
  }
  return 0;
}

void check_graph_limits(const Graph& graph, const ResourceLimits& limits) {
  if (limits.max_memory_bytes <= 0 || limits.max_operations <= 0) {
    throw Error(ErrorCode::kInvalidArgument, "resource limits must be positive");
  }
  int64_t operations = 0, weights = 0;
  const Value& input = graph.value(graph.input);
  if (value_bytes(input) > limits.max_memory_bytes) {
    throw Error(ErrorCode::kInvalidModel, "graph input '" + input.name + "' " +
                                              input.shape.to_string() + " needs " +
                                              describe_bytes(value_bytes(input)) +
                                              " per sample, more than the memory limit " +
                                              describe_bytes(limits.max_memory_bytes));
  }
  for (const Node& node : graph.nodes) {
    const int64_t node_ops = node_operations(graph, node);
    operations = saturating_add(operations, node_ops);
    if (operations > limits.max_operations) {
      refuse(node, count_text(node_ops) + " operations per sample bring one inference to " +
                       count_text(operations) + ", more than the operation limit " +
                       std::to_string(limits.max_operations));
    }
    const Value& out = graph.value(node.output);
    if (value_bytes(out) > limits.max_memory_bytes) {
      refuse(node, "its output '" + out.name + "' " + out.shape.to_string() + " needs " +
                       describe_bytes(value_bytes(out)) +
                       " per sample, more than the memory limit " +
                       describe_bytes(limits.max_memory_bytes));
    }
    weights = saturating_add(weights, node_weight_bytes(node));
    if (weights > limits.max_memory_bytes) {
      refuse(node, "weights up to this node take " + describe_bytes(weights) +
                       ", more than the memory limit " + describe_bytes(limits.max_memory_bytes));
    }
  }
}

}  // namespace sparq
