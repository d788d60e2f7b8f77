#include "kernels/eltwise/eltwise.hpp"

#include "kernels/common/pick_isa.hpp"

namespace sparq::kernels {

EltwiseKernels eltwise_kernels(Isa active) {
  switch (pick_isa(active, {Isa::kAvx2, Isa::kAvx512})) {
    case Isa::kAvx512:
      return eltwise_kernels_avx512();
    case Isa::kAvx2:
      return eltwise_kernels_avx2();
    default:
      return eltwise_kernels_scalar();
  }
}

}  // namespace sparq::kernels
