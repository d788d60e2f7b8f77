#include "kernels/quantize/quantize.hpp"

#include <iterator>

#include "kernels/common/pick_isa.hpp"
#include "kernels/quantize/quantize_scalar_rule.hpp"

namespace sparq::kernels {

void fold_lanes(const RangeLanes& lanes, SampleRange& range) {
  scalar_rule::fold_range(lanes.high, std::size(lanes.high), range);
  scalar_rule::fold_range(lanes.low, std::size(lanes.low), range);
}

QuantizeKernels quantize_kernels(Isa active) {
  switch (pick_isa(active, {Isa::kAvx2, Isa::kAvx512})) {
    case Isa::kAvx512:
      return quantize_kernels_avx512();
    case Isa::kAvx2:
      return quantize_kernels_avx2();
    default:
      return quantize_kernels_scalar();
  }
}

}  // namespace sparq::kernels
