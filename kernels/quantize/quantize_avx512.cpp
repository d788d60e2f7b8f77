// A multiply and an add stay two roundings (the reference backend's
// arithmetic): GCC would otherwise fuse them into FMA under this file's -mfma.
#pragma GCC optimize("fp-contract=off")
#include "kernels/quantize/quantize_impl.hpp"

namespace sparq::kernels {

QuantizeKernels quantize_kernels_avx512() {
  return Quantize<ArchAvx512>::table(Isa::kAvx512);
}

}  // namespace sparq::kernels
