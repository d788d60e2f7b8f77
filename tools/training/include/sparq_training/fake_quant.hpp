// The numerics contract (include/sparq/quantization.hpp) written with libtorch
// tensors, so the training twin computes what the sparq runtime computes:
//  - activations: per-sample dynamic scale s = max(x) / qmax (signed: max|x| /
//    127), s = 1 when that is not positive, q = clamp(round(x / s)) with
//    round-half-to-even (torch::round rounds half to even);
//  - weights: symmetric per-output-channel, qmax 7 (4-bit) or 127 (8-bit);
//  - layer output: y = acc * (s_act * s_w[o]) + bias[o], acc an exact integer.
// In training mode the rounding passes gradients straight through (STE); in
// exact mode (evaluation) nothing is approximated.
#pragma once

#include <torch/torch.h>

namespace sparq::training {

// How a module runs: float, or as the fake-quantized twin of its export.
struct QuantMode {
  bool enabled = false;
  int act_bits = 8;    // inputs of the pruned middle layers: 8 or 4
  bool exact = false;  // evaluation: no straight-through estimator, exact rescale
};

struct QuantizedTensor {
  torch::Tensor q;      // integer-valued float tensor, same shape as the input
  torch::Tensor scale;  // activations: [N]; weights: [O]
};

// Per-sample dynamic quantization of activations x [N, ...].
QuantizedTensor quantize_activations(const torch::Tensor& x, int bits, bool is_signed,
                                     bool straight_through);

// Per-output-channel symmetric quantization of weights w [O, ...].
QuantizedTensor quantize_weights(const torch::Tensor& w, int bits, bool straight_through);

// y[n, o, ...] = acc[n, o, ...] * (s_act[n] * s_w[o]) + bias[o]. Exact mode
// rounds once from double, which matches the contract's fused multiply-add.
torch::Tensor rescale_accumulator(const torch::Tensor& acc, const torch::Tensor& act_scale,
                                  const torch::Tensor& weight_scale, const torch::Tensor& bias,
                                  bool exact);

}  // namespace sparq::training
