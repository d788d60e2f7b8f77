// Helpers shared by the reference kernels: the fused activations, checks of
// the views a session hands to `run`, and the valid output ranges of a window.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "kernels/common/activation.hpp"
#include "runtime/backends/node_views.hpp"
#include "sparq/graph.hpp"
#include "sparq/ops.hpp"
#include "sparq/quantization.hpp"
#include "sparq/tensor.hpp"

namespace sparq::reference {

// The fused activations: the kernels' one scalar definition.
using kernels::apply_activation;

// A quantized layer's output rule over one output plane:
// dequantize_accumulator, then the fused activation.
inline void dequantize_plane(std::span<const int32_t> acc, float act_scale, float weight_scale,
                             float bias, Activation activation, float* out) {
  for (size_t p = 0; p < acc.size(); ++p) {
    out[p] =
        apply_activation(dequantize_accumulator(acc[p], act_scale, weight_scale, bias), activation);
  }
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
