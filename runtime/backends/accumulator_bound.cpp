#include "runtime/backends/accumulator_bound.hpp"

#include <algorithm>
#include <limits>

#include "kernels/common/byte_activation.hpp"
#include "sparq/error.hpp"
#include "sparq/s4.hpp"

namespace sparq {
namespace {

// Largest |w| of s8 or s4 weights as stored.
int64_t max_abs_weight(const Tensor& weights) {
  const auto count = static_cast<size_t>(weights.shape().elements());
  const auto* bytes = weights.data<uint8_t>();
  int64_t max_abs = 0;
  for (size_t e = 0; e < count; ++e) {
    const int64_t v =
        weights.dtype() == DType::kS8 ? static_cast<int8_t>(bytes[e]) : s4_element(bytes, e);
    max_abs = std::max<int64_t>(max_abs, v < 0 ? -v : v);
  }
  return max_abs;
}

std::string overflow_reason(const std::string& node, const AccumulatorBound& bound) {
  return "node '" + node + "': " + std::to_string(bound.products) + " products of up to " +
         std::to_string(bound.max_abs_product) +
         " could overflow the int32 accumulator of the numerics contract";
}

bool integer_weights(const Tensor& weights) {
  return weights.dtype() == DType::kS8 || weights.dtype() == DType::kS4;
}

}  // namespace

bool AccumulatorBound::fits_int32() const {
  return products * max_abs_product <= std::numeric_limits<int32_t>::max();
}

int64_t max_abs_activation(DType dtype) {
  return kernels::max_abs_byte_activation(dtype == DType::kS8);
}

std::optional<AccumulatorBound> int32_accumulator_bound(const Graph& graph, const Node& node) {
  if (node.inputs.empty()) return std::nullopt;
  const int64_t max_x = max_abs_activation(graph.value(node.inputs[0]).dtype);
  if (const auto* conv = std::get_if<Conv2dOp>(&node.op)) {
    if (!integer_weights(conv->weights)) return std::nullopt;
    const Shape& ws = conv->weights.shape();  // [O, I / groups, KH, KW]
    if (ws.rank() != 4) return std::nullopt;  // malformed: graph validation names it
    return AccumulatorBound{ws[1] * ws[2] * ws[3], max_x * max_abs_weight(conv->weights)};
  }
  if (const auto* fc = std::get_if<FullyConnectedOp>(&node.op)) {
    if (!integer_weights(fc->weights) || fc->weights.shape().rank() != 2) return std::nullopt;
    return AccumulatorBound{fc->weights.shape()[1], max_x * max_abs_weight(fc->weights)};
  }
  if (const auto* sparse = std::get_if<SparseConv3x3Op>(&node.op)) {
    return sparse_conv3x3_accumulator_bound(*sparse, graph.value(node.inputs[0]).dtype);
  }
  return std::nullopt;
}

AccumulatorBound sparse_conv3x3_accumulator_bound(const SparseConv3x3Op& op, DType input) {
  return {int64_t{op.in_channels} * op.density, max_abs_activation(input) * 8};
}

std::string int32_accumulator_overflow(const Graph& graph, const Node& node) {
  const std::optional<AccumulatorBound> bound = int32_accumulator_bound(graph, node);
  if (!bound || bound->fits_int32()) return {};
  return overflow_reason(node.name, *bound);
}

void check_int32_accumulator(const std::string& node, const AccumulatorBound& bound) {
  if (!bound.fits_int32()) throw Error(ErrorCode::kUnsupported, overflow_reason(node, bound));
}

void check_int32_accumulator(const Graph& graph, const Node& node) {
  const std::string overflow = int32_accumulator_overflow(graph, node);
  if (!overflow.empty()) throw Error(ErrorCode::kUnsupported, overflow);
}

}  // namespace sparq
