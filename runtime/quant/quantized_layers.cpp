#include "sparq/quantized_layers.hpp"

#include <string>

#include "sparq/error.hpp"
#include "sparq/quantization.hpp"

namespace sparq {
namespace {

// Quantizes `weights` (f32, first axis = output channels) to s8 in place and
// returns the per-channel scales.
std::vector<float> quantize_to_s8(Tensor& weights, const char* what) {
  if (weights.dtype() != DType::kF32 || weights.shape().rank() < 2) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string(what) + ": weights must be f32 with an output-channel axis, are " +
                    to_string(weights.dtype()) + " " + weights.shape().to_string());
  }
  const int out_channels = static_cast<int>(weights.shape()[0]);
  QuantizedWeights q = quantize_weights_per_channel(weights.span<float>(), out_channels, 8);
  weights =
      Tensor::from_bytes(weights.shape(), DType::kS8,
                         {reinterpret_cast<const uint8_t*>(q.values.data()), q.values.size()});
  return std::move(q.scales);
}

}  // namespace

Conv2dOp make_s8_conv2d(Conv2dOp conv) {
  conv.weight_scales = quantize_to_s8(conv.weights, "make_s8_conv2d");
  return conv;
}

FullyConnectedOp make_s8_fully_connected(FullyConnectedOp fc) {
  fc.weight_scales = quantize_to_s8(fc.weights, "make_s8_fully_connected");
  return fc;
}

}  // namespace sparq
