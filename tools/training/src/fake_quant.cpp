#include "sparq_training/fake_quant.hpp"

#include "sparq/error.hpp"

namespace sparq::training {
namespace {

// Mirrors sparq's scale_from_max: max / qmax, or 1 when that is not a positive
// finite number (all-zero tensors, underflow).
torch::Tensor scale_from_max(const torch::Tensor& max_value, int qmax) {
  torch::Tensor scale = max_value / static_cast<float>(qmax);
  torch::Tensor usable = torch::isfinite(max_value) & (max_value > 0) & (scale > 0);
  return torch::where(usable, scale, torch::ones_like(scale));
}

// Shape [N] -> [N, 1, 1, ...] to broadcast against a tensor of rank `rank`.
torch::Tensor per_leading(const torch::Tensor& v, int64_t rank) {
  std::vector<int64_t> shape(static_cast<size_t>(rank), 1);
  shape[0] = v.size(0);
  return v.view(shape);
}

torch::Tensor round_clamp(const torch::Tensor& scaled, double lo, double hi,
                          bool straight_through) {
  torch::Tensor rounded = torch::round(scaled).clamp(lo, hi);
  if (!straight_through) return rounded;
  // Forward value: exactly `rounded` (scaled + (rounded - scaled) is exact for
  // |rounded - scaled| <= 0.5). Backward: identity inside the range.
  return scaled + (rounded - scaled).detach();
}

}  // namespace

QuantizedTensor quantize_activations(const torch::Tensor& x, int bits, bool is_signed,
                                     bool straight_through) {
  if (is_signed && bits != 8) {
    throw Error(ErrorCode::kInvalidArgument, "signed activations must be 8-bit");
  }
  if (bits != 8 && bits != 4) {
    throw Error(ErrorCode::kInvalidArgument,
                "activation bits must be 8 or 4, are " + std::to_string(bits));
  }
  const int qmax = is_signed ? 127 : (1 << bits) - 1;
  torch::Tensor flat = x.detach().flatten(1);
  torch::Tensor max_value = is_signed ? flat.abs().amax(1) : flat.amax(1);
  torch::Tensor scale = scale_from_max(max_value, qmax);
  torch::Tensor scaled = x / per_leading(scale, x.dim());
  return {round_clamp(scaled, is_signed ? -qmax : 0, qmax, straight_through), scale};
}

QuantizedTensor quantize_weights(const torch::Tensor& w, int bits, bool straight_through) {
  if (bits != 8 && bits != 4) {
    throw Error(ErrorCode::kInvalidArgument,
                "weight bits must be 8 or 4, are " + std::to_string(bits));
  }
  const int qmax = (1 << (bits - 1)) - 1;
  torch::Tensor scale = scale_from_max(w.detach().flatten(1).abs().amax(1), qmax);
  torch::Tensor scaled = w / per_leading(scale, w.dim());
  return {round_clamp(scaled, -qmax, qmax, straight_through), scale};
}

torch::Tensor rescale_accumulator(const torch::Tensor& acc, const torch::Tensor& act_scale,
                                  const torch::Tensor& weight_scale, const torch::Tensor& bias,
                                  bool exact) {
  // [N, O] products of the two scales, rounded to float like the runtime's
  // act_scale * weight_scale.
  torch::Tensor combined = act_scale.unsqueeze(1) * weight_scale.unsqueeze(0);
  std::vector<int64_t> shape = {combined.size(0), combined.size(1)};
  std::vector<int64_t> bias_shape = {1, bias.size(0)};
  for (int64_t d = 2; d < acc.dim(); ++d) shape.push_back(1), bias_shape.push_back(1);
  combined = combined.view(shape);
  if (!exact) return acc * combined + bias.view(bias_shape);
  // acc (< 2^24) times a float is exact in double; adding the bias rounds once.
  return (acc.to(torch::kFloat64) * combined.to(torch::kFloat64) +
          bias.view(bias_shape).to(torch::kFloat64))
      .to(torch::kFloat32);
}

}  // namespace sparq::training
