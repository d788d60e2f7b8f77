#include "kernels/pool/pool.hpp"

#include "kernels/common/pick_isa.hpp"

namespace sparq::kernels {

PoolKernels pool_kernels(Isa active) {
  switch (pick_isa(active, {Isa::kAvx2, Isa::kAvx512})) {
    case Isa::kAvx512:
      return pool_kernels_avx512();
    case Isa::kAvx2:
      return pool_kernels_avx2();
    default:
      return pool_kernels_scalar();
  }
}

}  // namespace sparq::kernels
