// Helpers shared by the reference kernels: the fused activations, checks of
// the views a session hands to `run`, and the valid output ranges of a window.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kernels/common/activation.hpp"
#include "kernels/common/window_geometry.hpp"
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

// The same plane written where a quantized layer's output goes: f32 at
// element `offset` of `output`, or, with a fused static quantize, through the
// quantize op's rule (quantize_activations_u8/s8) with the fixed scale.
// `plane` is the f32 plane's storage.
inline void store_output_plane(std::span<const int32_t> acc, float act_scale, float weight_scale,
                               float bias, Activation activation, const OutputQuantization& q,
                               const TensorView& output, int64_t offset,
                               std::vector<float>& plane) {
  if (!q.enabled()) {
    dequantize_plane(acc, act_scale, weight_scale, bias, activation, output.as<float>() + offset);
    return;
  }
  plane.resize(acc.size());
  dequantize_plane(acc, act_scale, weight_scale, bias, activation, plane.data());
  if (q.is_signed) {
    quantize_activations_s8(plane, q.scale, {output.as<int8_t>() + offset, plane.size()});
  } else {
    quantize_activations_u8(plane, q.scale, q.bits, {output.as<uint8_t>() + offset, plane.size()});
  }
}

// One f32 plane of a pooling (the reference's rule, reference/pooling.cpp):
// max keeps the first NaN, padding never wins; average divides by the
// window, or by its taps inside the input without count_include_pad.
void pool_plane_f32(const float* x, float* y, const kernels::PoolGeometry& g, PoolKind kind,
                    bool count_include_pad);

// "_to_u8" / "_to_s8" for a layer writing its fused static quantize's
// output, "" for f32 (kernel names in stats).
inline std::string fused_output_suffix(DType output) {
  return output == DType::kF32 ? std::string() : std::string("_to_") + to_string(output);
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
