#include "kernels/quantize/quantize.hpp"

#include "kernels/common/pick_isa.hpp"

namespace sparq::kernels {

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
