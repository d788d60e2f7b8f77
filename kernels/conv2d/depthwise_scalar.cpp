#include "kernels/conv2d/depthwise_impl.hpp"

namespace sparq::kernels {

size_t depthwise_scratch_elements(const ConvGeometry& g) {
  const PhaseShape s(g);
  return static_cast<size_t>(phase_scratch_floats(g, s) + row16_scratch_floats(g));
}

DepthwiseKernels depthwise_kernels_scalar() {
  return Depthwise<ScalarDepthwise>::table(Isa::kScalar);
}

}  // namespace sparq::kernels
