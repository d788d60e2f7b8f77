// A multiply and an add stay two roundings (the reference backend's
// arithmetic): GCC would otherwise fuse them into FMA under this file's -mfma.
#pragma GCC optimize("fp-contract=off")
#include "kernels/common/activation_simd.hpp"
#include "kernels/common/simd_arch.hpp"
#include "kernels/conv2d/depthwise_impl.hpp"

namespace sparq::kernels {

DepthwiseKernels depthwise_kernels_avx512() {
  return Depthwise<ArchAvx512>::table(Isa::kAvx512);
}

}  // namespace sparq::kernels
