// Export to a sparq model: the same ArchSpec walk as the libtorch module, with
// BatchNorm folded (sparq::fold_batchnorm) and weights quantized by the
// library itself (sparq::quantize_weights_per_channel, make_sparse_conv3x3),
// so the file follows the numerics contract by construction:
//   image (f32) -> quantize s8 -> stem conv (s8 weights, dense, ReLU)
//   -> [quantize u8/u4 -> sparse 3x3 conv (s4 taps, N of 9, ReLU) | max pool
//       | residual block] ...
//   -> global average pool -> quantize u8 -> classifier (s8 weights) -> logits
#pragma once

#include <map>
#include <string>

#include "sparq/model.hpp"
#include "sparq_training/checkpoint.hpp"
#include "sparq_training/net.hpp"

namespace sparq::training {

// act_bits: 8 or 4, the activations feeding the pruned middle layers (the
// stem input and the classifier input stay 8-bit). `provenance` is copied into
// the model's metadata.
Model export_model(Net& net, const CheckpointInfo& info, int act_bits,
                   const std::map<std::string, std::string>& provenance);

}  // namespace sparq::training
