// Dynamic activation quantization in two vector passes per sample: the
// range of the finite values (SampleRange), then q = clamp(nearbyint(x / s)).
// Both passes reproduce sparq::activation_scale / quantize_activations_* bit
// for bit: max is order-independent, x / s is the same IEEE division (not a
// reciprocal multiply), rounding is round-half-to-even, NaN becomes 0.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/isa/isa.hpp"
#include "sparq/ops.hpp"
#include "sparq/quantization.hpp"
#include "sparq/tensor.hpp"

namespace sparq::kernels {

// A sample's range (sparq/tensor.hpp): what fold_range widens.
using sparq::SampleRange;

// Widens `range` to hold `part` (max and min are order-free).
inline void widen_range(SampleRange& range, const SampleRange& part) {
  range.max = std::max(range.max, part.max);
  range.min = std::min(range.min, part.min);
}

// The largest value the scale maps to qmax: max(x) unsigned, max|x| signed.
inline float scale_max(const SampleRange& range, bool is_signed) {
  return is_signed ? std::max(range.max, -range.min) : range.max;
}

// A static quantize fused into a layer's output (sparq::OutputQuantization
// with its qmax): y -> clamp(nearbyint(y / scale)) to [0, qmax] as u8, or to
// [-127, 127] as s8 when is_signed, NaN -> 0.
struct FusedQuantize {
  float scale = 1.0f;
  int qmax = 255;
  bool is_signed = false;
};

// The kernels' form of an enabled OutputQuantization.
inline FusedQuantize fused_quantize(const OutputQuantization& q) {
  return {q.scale, activation_qmax(q.bits, q.is_signed), q.is_signed};
}

// A sample's range while a producer widens it a vector at a time: the
// running maximum and minimum of each lane (lanes a narrower ISA does not
// reach stay +0), +0 to start like a SampleRange. Maxima and minima are
// order-free, so folding the lanes (fold_lanes) gives the range of every
// value widened, however the values were spread over lanes and calls.
struct RangeLanes {
  alignas(64) float high[16] = {};
  alignas(64) float low[16] = {};
};

// Widens `range` by every lane of `lanes` (the scalar rule).
void fold_lanes(const RangeLanes& lanes, SampleRange& range);

struct QuantizeKernels {
  Isa isa = Isa::kScalar;
  // Widens `range` to hold every finite x[j] (NaN and infinities are
  // skipped): the quantize node's range pass.
  void (*fold_range)(const float* x, size_t count, SampleRange& range);
  // q = clamp(nearbyint(x / scale), 0, qmax), NaN -> 0.
  void (*to_u8)(const float* x, size_t count, float scale, int qmax, uint8_t* out);
  // q = clamp(nearbyint(x / scale), -127, 127), NaN -> 0.
  void (*to_s8)(const float* x, size_t count, float scale, int8_t* out);
  // to_u8 with qmax 255 of values a ReLU or ReLU6 wrote (+0 or above, never
  // NaN), which AVX-512 rounds without the clamps
  // (Quantize::round_saturating_n); other values are outside its contract.
  void (*to_u8_rectified)(const float* x, size_t count, float scale, uint8_t* out);
  // Widens `lanes` by every finite x[j]: a producer's range, a plane or a
  // row at a time, folded once at the end (fold_lanes).
  void (*widen_lanes)(const float* x, size_t count, RangeLanes& lanes);
  // The same for values a ReLU or ReLU6 wrote (no NaN, none below +0): one
  // max per vector, the minima stay +0. An infinity does enter the maxima;
  // a caller seeing one there takes the range from fold_range instead.
  void (*widen_lanes_nonnegative)(const float* x, size_t count, RangeLanes& lanes);
};

QuantizeKernels quantize_kernels_scalar();
QuantizeKernels quantize_kernels_avx2();
QuantizeKernels quantize_kernels_avx512();
QuantizeKernels quantize_kernels(Isa active);

}  // namespace sparq::kernels
