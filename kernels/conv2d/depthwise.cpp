#include "kernels/conv2d/depthwise.hpp"

#include "kernels/common/pick_isa.hpp"

namespace sparq::kernels {

std::vector<int32_t> depthwise_row_quads(const int32_t* weights, int64_t channels,
                                         const ConvGeometry& g) {
  std::vector<int32_t> quads(static_cast<size_t>(channels * g.kernel_h));
  for (int64_t row = 0; row < channels * g.kernel_h; ++row) {
    uint32_t quad = 0;
    for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
      quad |= static_cast<uint32_t>(static_cast<uint8_t>(weights[row * g.kernel_w + kx]))
              << (8 * kx);
    }
    quads[static_cast<size_t>(row)] = static_cast<int32_t>(quad);
  }
  return quads;
}

DepthwiseKernels depthwise_kernels(Isa active, const ConvGeometry& g) {
  switch (pick_isa(active, {Isa::kAvx2, Isa::kAvx512, Isa::kVnni})) {
    case Isa::kVnni: {
      DepthwiseKernels vnni = depthwise_kernels_vnni();
      if (vnni.takes_runs(g)) return vnni;
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
