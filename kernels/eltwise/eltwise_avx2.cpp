// A multiply and an add stay two roundings (the reference backend's
// arithmetic): GCC would otherwise fuse them into FMA under this file's -mfma.
#pragma GCC optimize("fp-contract=off")
#include "kernels/eltwise/eltwise_impl.hpp"

namespace sparq::kernels {

EltwiseKernels eltwise_kernels_avx2() {
  return Eltwise<ArchAvx2>::table(Isa::kAvx2);
}

}  // namespace sparq::kernels
