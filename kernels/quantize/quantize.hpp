// Dynamic activation quantization in two vector passes per sample: the
// range of the finite values (SampleRange), then q = clamp(nearbyint(x / s)).
// Both passes reproduce sparq::activation_scale / quantize_activations_* bit
// for bit: max is order-independent, x / s is the same IEEE division (not a
// reciprocal multiply), rounding is round-half-to-even, NaN becomes 0.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/isa/isa.hpp"
#include "sparq/tensor.hpp"

namespace sparq::kernels {

// A range kept per vector lane, so a producer can fold many short rows (a
// tile's output channels) with no cross-lane reduction per row; `finish`
// reduces once per task. Lanes start at 0, which every range holds.
struct RangeLanes {
  static constexpr int kLanes = 16;
  alignas(64) float max[kLanes] = {};
  alignas(64) float min[kLanes] = {};
  // Widens `range` by the lanes.
  void finish(SampleRange& range) const {
    for (int j = 0; j < kLanes; ++j) {
      if (max[j] > range.max) range.max = max[j];
      if (min[j] < range.min) range.min = min[j];
    }
  }
};

struct QuantizeKernels {
  Isa isa = Isa::kScalar;
  // Widens `lanes` to hold every finite x[r * stride + j], r < rows, j < count
  // (NaN and infinities are skipped). The quantize node's range pass and the
  // ranges the producers report are this one function.
  void (*fold_rows)(const float* x, size_t rows, size_t stride, size_t count, RangeLanes& lanes);
  // q = clamp(nearbyint(x / scale), 0, qmax), NaN -> 0.
  void (*to_u8)(const float* x, size_t count, float scale, int qmax, uint8_t* out);
  // q = clamp(nearbyint(x / scale), -127, 127), NaN -> 0.
  void (*to_s8)(const float* x, size_t count, float scale, int8_t* out);
};

// The range of x[0, count): fold_rows over one row, then finish.
inline void fold_range(const QuantizeKernels& kernels, const float* x, size_t count,
                       SampleRange& range) {
  RangeLanes lanes;
  kernels.fold_rows(x, 1, 0, count, lanes);
  lanes.finish(range);
}

QuantizeKernels quantize_kernels_scalar();
QuantizeKernels quantize_kernels_avx2();
QuantizeKernels quantize_kernels_avx512();
QuantizeKernels quantize_kernels(Isa active);

}  // namespace sparq::kernels
