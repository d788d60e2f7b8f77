// The int32 accumulator bound of the numerics contract (docs/NUMERICS.md,
// section 3): a quantized layer sums `products` terms of at most
// max|x| * max|w| each in exact int32, so a layer whose worst case exceeds
// INT32_MAX is refused. One definition, asked by every backend's supports()
// (so a session falls back instead of failing in compile()) and compile().
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "sparq/graph.hpp"

namespace sparq {

struct AccumulatorBound {
  int64_t products = 0;         // terms summed into one output
  int64_t max_abs_product = 0;  // max|x| * max|w|
  bool fits_int32() const;
};

// The largest |value| of a quantized activation dtype: 128 for s8, 255 for u8.
int64_t max_abs_activation(DType dtype);

// The bound of an integer layer (conv2d or fully_connected with s8/s4
// weights, sparse_conv3x3, whose s4 taps are at most 8 in magnitude); nullopt
// for a node with no integer accumulator. Dense layers use the largest weight
// actually stored.
std::optional<AccumulatorBound> int32_accumulator_bound(const Graph& graph, const Node& node);

// A sparse_conv3x3 layer's bound: in_channels * density products of an
// activation and an s4 tap (at most 8 in magnitude).
AccumulatorBound sparse_conv3x3_accumulator_bound(const SparseConv3x3Op& op, DType input);

// Throws Error(kUnsupported) naming `node` when `bound` does not fit.
void check_int32_accumulator(const std::string& node, const AccumulatorBound& bound);

// Empty when the node has no integer accumulator or its bound fits; else why
// not, naming the node.
std::string int32_accumulator_overflow(const Graph& graph, const Node& node);

// Throws Error(kUnsupported) with int32_accumulator_overflow's reason.
void check_int32_accumulator(const Graph& graph, const Node& node);

}  // namespace sparq
