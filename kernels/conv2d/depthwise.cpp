#include "kernels/conv2d/depthwise.hpp"

#include "kernels/common/pick_isa.hpp"

namespace sparq::kernels {

DepthwiseKernels depthwise_kernels(Isa active, const ConvGeometry& g) {
  switch (pick_isa(active, {Isa::kAvx2, Isa::kAvx512, Isa::kVnni})) {
    case Isa::kVnni: {
      DepthwiseKernels vnni = depthwise_kernels_vnni();
      if (vnni.writes_bytes(g)) return vnni;
      return depthwise_kernels_avx512();
    }
    case Isa::kAvx512:
      return depthwise_kernels_avx512();
    case Isa::kAvx2:
      return depthwise_kernels_avx2();
    default:
      return depthwise_kernels_scalar();
  }
}

}  // namespace sparq::kernels
