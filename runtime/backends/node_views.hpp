// What every backend's compiled node checks when it runs: the views handed to
// run() must have the per-sample shapes and dtypes the node was compiled for,
// one batch size >= 1, data, and scales on quantized views.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "sparq/graph.hpp"
#include "sparq/tensor.hpp"

namespace sparq {

struct ValueLayout {
  Shape shape;  // per sample
  DType dtype = DType::kF32;
};
ValueLayout layout_of(const Graph& graph, ValueId id);

// Returns the batch. Throws Error(kInvalidArgument) naming the node, the
// backend and the operand.
int64_t check_node_views(const char* backend, const std::string& node,
                         std::span<const ConstTensorView> inputs,
                         std::span<const ValueLayout> input_layouts, const TensorView& output,
                         const ValueLayout& output_layout);

}  // namespace sparq
