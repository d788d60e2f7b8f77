#include "kernels/pool/pool_impl.hpp"
#include "runtime/core/checked_math.hpp"

namespace sparq::kernels {

size_t pool_scratch_floats(const PoolGeometry& g) {
  // Saturates rather than wraps for windows near 2^31 (the session refuses
  // such a node against its memory limit before this buffer is made).
  return static_cast<size_t>(saturating_mul({g.kernel_w, g.stride_h, tap_plane_rows(g), g.out_w}));
}

PoolKernels pool_kernels_scalar() {
  return Pool<ScalarArch>::table(Isa::kScalar);
}

void global_avg_pool_planes(const float* in, size_t planes, size_t plane_size, float* out) {
  // Eight planes at a time: eight independent sums in flight hide the add
  // latency while each plane is still summed strictly in order.
  constexpr size_t kBlock = 8;
  const float divisor = static_cast<float>(plane_size);
  size_t p = 0;
  for (; p + kBlock <= planes; p += kBlock) {
    float sums[kBlock] = {};
    for (size_t j = 0; j < plane_size; ++j) {
      for (size_t b = 0; b < kBlock; ++b) sums[b] += in[(p + b) * plane_size + j];
    }
    for (size_t b = 0; b < kBlock; ++b) out[p + b] = sums[b] / divisor;
  }
  for (; p < planes; ++p) {
    float sum = 0.0f;
    for (size_t j = 0; j < plane_size; ++j) sum += in[p * plane_size + j];
    out[p] = sum / divisor;
  }
}

}  // namespace sparq::kernels
