// Quantization as library functions, exactly the numerics contract
// (docs/NUMERICS.md). Backends, tools and tests all call these, so there is
// one definition of every rounding rule.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace sparq {

// ---- weights -------------------------------------------------------------
// Symmetric per-output-channel quantization to `bits` (4 or 8):
// qmax = 2^(bits-1) - 1 (7 or 127), s[o] = max|w[o]| / qmax (s = 1 for an
// all-zero channel), q = clamp(nearbyint(w / s), -qmax, qmax).
struct QuantizedWeights {
  std::vector<int8_t> values;  // same layout as the input, [O, ...]
  std::vector<float> scales;   // one per output channel
};
QuantizedWeights quantize_weights_per_channel(std::span<const float> weights, int out_channels,
                                              int bits);

// Folds an inference-mode BatchNorm that follows a convolution into it:
// w'[o] = w[o] * g[o] / sqrt(var[o] + eps), b'[o] = (b[o] - mean[o]) * g[o] /
// sqrt(var[o] + eps) + beta[o]. `bias` may be empty in (then taken as 0) and
// is resized to out_channels.
void fold_batchnorm(std::span<float> weights, std::vector<float>& bias, int out_channels,
                    std::span<const float> gamma, std::span<const float> beta,
                    std::span<const float> mean, std::span<const float> var, float eps);

// ---- activations (per sample: dynamic, or a static calibrated scale) -----
// Unsigned: qmax = 2^bits - 1, s = max(x) / qmax, s = 1 when max(x) <= 0.
// Signed (bits must be 8): qmax = 127, s = max|x| / 127, s = 1 when all zero.
// Non-finite values do not take part in max. A static quantizer uses a
// scale fixed beforehand (activation_scale_from_max of the largest
// activation_max seen on calibration data) with the same round-and-clamp.
int activation_qmax(int bits, bool is_signed);
// The number the scale maps to qmax: max(0, finite x) unsigned, max|finite x| signed.
float activation_max(std::span<const float> x, bool is_signed);
float activation_scale(std::span<const float> x, int bits, bool is_signed);
float activation_scale_from_max(float max_value, int bits, bool is_signed);
// q = clamp(nearbyint(x / s), 0 or -127, qmax), round half to even.
void quantize_activations_u8(std::span<const float> x, float scale, int bits,
                             std::span<uint8_t> out);
void quantize_activations_s8(std::span<const float> x, float scale, std::span<int8_t> out);

// The output rule of every quantized layer: fma(float(acc), act_scale *
// weight_scale, bias), then the activation. Inline so every backend uses it.
inline float dequantize_accumulator(int32_t acc, float act_scale, float weight_scale, float bias) {
  return __builtin_fmaf(static_cast<float>(acc), act_scale * weight_scale, bias);
}

}  // namespace sparq
