// The scalar rule, written as in runtime/quant/quantization.cpp; vector files
// use these loops for their tails.
#include <cmath>

#include "kernels/quantize/quantize.hpp"
#include "kernels/quantize/quantize_scalar_rule.hpp"

namespace sparq::kernels {

QuantizeKernels quantize_kernels_scalar() {
  return {Isa::kScalar,
          &scalar_rule::fold_range,
          &scalar_rule::to_u8,
          &scalar_rule::to_s8,
          &scalar_rule::to_u8_rectified,
          &scalar_rule::widen_lane0,
          &scalar_rule::widen_lane0};
}

}  // namespace sparq::kernels
