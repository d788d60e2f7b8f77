// Dense layers with 8-bit weights from their float form: the rule sparq-train's
// export and the ONNX importer's --quantize share for every layer that is not
// a pruned 3x3 convolution (make_sparse_conv3x3 in sparq/sparse_format.hpp
// covers those). Weights are quantized symmetrically per output channel to s8
// (quantize_weights_per_channel with 8 bits); every other attribute is kept.
#pragma once

#include "sparq/ops.hpp"

namespace sparq {

// f32 weights [O, I/groups, KH, KW] -> s8 with one scale per output channel.
// Throws Error(kInvalidArgument) when the weights are not f32.
Conv2dOp make_s8_conv2d(Conv2dOp float_conv);

// f32 weights [O, I] -> s8 with one scale per output.
FullyConnectedOp make_s8_fully_connected(FullyConnectedOp float_fc);

}  // namespace sparq
