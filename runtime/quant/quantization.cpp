// The rounding rules of the numerics contract (docs/NUMERICS.md). Every
// backend, tool and test quantizes through these functions, so there is one
// definition of each rule.
#include "sparq/quantization.hpp"

#include <cmath>
#include <string>

#include "kernels/quantize/quantize_scalar_rule.hpp"
#include "sparq/error.hpp"

namespace sparq {
namespace {

[[noreturn]] void invalid(const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, what);
}

// Round-and-clamp, the finite-range fold and the element loops are the
// kernels' scalar rule (kernels/quantize/quantize_scalar_rule.hpp): one
// definition, which the vector kernels are tested against bit for bit.
using kernels::scalar_rule::round_and_clamp;

// s = max / qmax, or 1 when that is not a positive normal number: an all-zero
// (or all-negative) tensor, and a maximum so small that the division
// underflows to zero, would otherwise divide by zero.
float scale_from_max(float max_value, int qmax) {
  if (!(std::isfinite(max_value) && max_value > 0.0f)) return 1.0f;
  float scale = max_value / static_cast<float>(qmax);
  return scale > 0.0f ? scale : 1.0f;
}

void check_scale(float scale, const char* function) {
  if (!(std::isfinite(scale) && scale > 0.0f)) {
    invalid(std::string(function) + ": scale must be finite and positive, is " +
            std::to_string(scale));
  }
}

}  // namespace

QuantizedWeights quantize_weights_per_channel(std::span<const float> weights, int out_channels,
                                              int bits) {
  if (bits != 4 && bits != 8) {
    invalid("quantize_weights_per_channel: bits must be 4 or 8, is " + std::to_string(bits));
  }
  if (out_channels <= 0 || weights.empty() || weights.size() % static_cast<size_t>(out_channels)) {
    invalid("quantize_weights_per_channel: " + std::to_string(weights.size()) +
            " weights do not split into " + std::to_string(out_channels) + " output channels");
  }
  const int qmax = (1 << (bits - 1)) - 1;
  const size_t per_channel = weights.size() / static_cast<size_t>(out_channels);
  QuantizedWeights result;
  result.values.resize(weights.size());
  result.scales.resize(static_cast<size_t>(out_channels));
  for (size_t o = 0; o < static_cast<size_t>(out_channels); ++o) {
    std::span<const float> channel = weights.subspan(o * per_channel, per_channel);
    float max_abs = 0.0f;
    for (size_t j = 0; j < channel.size(); ++j) {
      if (!std::isfinite(channel[j])) {
        invalid("quantize_weights_per_channel: weights[" + std::to_string(o * per_channel + j) +
                "] is not finite");
      }
      max_abs = std::fmax(max_abs, std::fabs(channel[j]));
    }
    const float scale = scale_from_max(max_abs, qmax);
    result.scales[o] = scale;
    for (size_t j = 0; j < channel.size(); ++j) {
      result.values[o * per_channel + j] =
          static_cast<int8_t>(round_and_clamp(channel[j] / scale, -qmax, qmax));
    }
  }
  return result;
}

void fold_batchnorm(std::span<float> weights, std::vector<float>& bias, int out_channels,
                    std::span<const float> gamma, std::span<const float> beta,
                    std::span<const float> mean, std::span<const float> var, float eps) {
  const auto channels = static_cast<size_t>(out_channels);
  if (out_channels <= 0 || weights.empty() || weights.size() % channels) {
    invalid("fold_batchnorm: " + std::to_string(weights.size()) + " weights do not split into " +
            std::to_string(out_channels) + " output channels");
  }
  const std::pair<const char*, size_t> sizes[] = {
      {"gamma", gamma.size()}, {"beta", beta.size()}, {"mean", mean.size()}, {"var", var.size()}};
  for (const auto& [field, size] : sizes) {
    if (size != channels) {
      invalid(std::string("fold_batchnorm: ") + field + " has " + std::to_string(size) +
              " entries, expected " + std::to_string(out_channels));
    }
  }
  if (!bias.empty() && bias.size() != channels) {
    invalid("fold_batchnorm: bias has " + std::to_string(bias.size()) + " entries, expected 0 or " +
            std::to_string(out_channels));
  }
  bias.resize(channels, 0.0f);
  const size_t per_channel = weights.size() / channels;
  for (size_t o = 0; o < channels; ++o) {
    const float variance = var[o] + eps;
    if (!(variance > 0.0f) || !std::isfinite(variance)) {
      invalid("fold_batchnorm: var[" + std::to_string(o) +
              "] + eps must be finite and positive, is " + std::to_string(variance));
    }
    // One factor per channel, so every weight of the channel is scaled by the
    // same rounded number (the folded layer is then exactly a rescaled one).
    const float factor = gamma[o] / std::sqrt(variance);
    for (size_t j = 0; j < per_channel; ++j) weights[o * per_channel + j] *= factor;
    bias[o] = (bias[o] - mean[o]) * factor + beta[o];
  }
}

int activation_qmax(int bits, bool is_signed) {
  if (is_signed) {
    if (bits != 8) invalid("signed activations must be 8-bit, bits is " + std::to_string(bits));
    return 127;
  }
  if (bits != 8 && bits != 4) {
    invalid("activation bits must be 8 or 4, is " + std::to_string(bits));
  }
  return (1 << bits) - 1;
}

float activation_scale_from_max(float max_value, int bits, bool is_signed) {
  return scale_from_max(max_value, activation_qmax(bits, is_signed));
}

float activation_max(std::span<const float> x, bool is_signed) {
  // Non-finite values do not set the scale (one inf would flush every other
  // value to zero); when quantized they saturate (inf) or become 0 (NaN).
  kernels::SampleRange range;
  kernels::scalar_rule::fold_range(x.data(), x.size(), range);
  return kernels::scale_max(range, is_signed);
}

float activation_scale(std::span<const float> x, int bits, bool is_signed) {
  return activation_scale_from_max(activation_max(x, is_signed), bits, is_signed);
}

void quantize_activations_u8(std::span<const float> x, float scale, int bits,
                             std::span<uint8_t> out) {
  const int qmax = activation_qmax(bits, false);
  check_scale(scale, "quantize_activations_u8");
  if (out.size() != x.size()) {
    invalid("quantize_activations_u8: output has " + std::to_string(out.size()) +
            " elements, input " + std::to_string(x.size()));
  }
  kernels::scalar_rule::to_u8(x.data(), x.size(), scale, qmax, out.data());
}

void quantize_activations_s8(std::span<const float> x, float scale, std::span<int8_t> out) {
  check_scale(scale, "quantize_activations_s8");
  if (out.size() != x.size()) {
    invalid("quantize_activations_s8: output has " + std::to_string(out.size()) +
            " elements, input " + std::to_string(x.size()));
  }
  kernels::scalar_rule::to_s8(x.data(), x.size(), scale, out.data());
}

}  // namespace sparq
