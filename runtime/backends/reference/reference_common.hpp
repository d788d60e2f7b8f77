// Helpers shared by the reference kernels: the fused activations, checks of
// the views a session hands to `run`, and the valid output ranges of a window.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "runtime/backends/node_views.hpp"
#include "sparq/graph.hpp"
#include "sparq/ops.hpp"
#include "sparq/tensor.hpp"

namespace sparq::reference {

// ReLU is `y > 0 ? y : +0` and ReLU6 is `min(relu(y), 6)` written the same
// way, so NaN becomes 0 and -0 becomes +0 exactly as x86 maxps(y, 0) /
// minps(r, 6) do: a SIMD backend using those instructions matches bit for bit.
inline float apply_activation(float y, Activation activation) {
  switch (activation) {
    case Activation::kNone:
      return y;
    case Activation::kRelu:
      return y > 0.0f ? y : 0.0f;
    case Activation::kRelu6: {
      const float r = y > 0.0f ? y : 0.0f;
      return r < 6.0f ? r : 6.0f;
    }
  }
  return y;
}

// The per-sample shapes and dtypes a compiled node was built for; `batch`
// checks a view against them when the node runs.
using sparq::layout_of;
using sparq::ValueLayout;

// Checks that the views handed to run() have the compiled shapes and one batch
// size, and that quantized views carry their scales. Returns the batch.
// Throws Error(kInvalidArgument) naming the node and the operand.
inline int64_t check_views(const std::string& node, std::span<const ConstTensorView> inputs,
                           std::span<const ValueLayout> input_layouts, const TensorView& output,
                           const ValueLayout& output_layout) {
  return check_node_views("reference", node, inputs, input_layouts, output, output_layout);
}

// A bounded range of output coordinates whose input coordinate
// `out * stride + offset` falls inside [0, in_size): [begin, end).
struct OutputRange {
  int64_t begin = 0;
  int64_t end = 0;
};
OutputRange valid_outputs(int64_t in_size, int64_t out_size, int64_t stride, int64_t offset);

}  // namespace sparq::reference
