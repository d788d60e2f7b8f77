// f32 pooling over one plane (one channel of one sample), and global average
// pooling over many planes. Results are bit-identical to the reference
// backend: max keeps the first NaN and lets padding never win; average sums
// the window in (ky, kx) order, padding adding nothing, then divides by
// kernel_h * kernel_w; global average sums each plane in order, divides by H*W.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/window_geometry.hpp"
#include "kernels/isa/isa.hpp"

namespace sparq::kernels {

// Floats of scratch one plane needs: the padded input regrouped by window
// column and row phase, so that every window tap reads one contiguous run
// covering the whole output plane.
size_t pool_scratch_floats(const PoolGeometry& g);

struct PoolKernels {
  Isa isa = Isa::kScalar;
  void (*max_plane)(const float* in, float* out, const PoolGeometry& g, float* scratch);
  void (*avg_plane)(const float* in, float* out, const PoolGeometry& g, float* scratch);
};

PoolKernels pool_kernels_scalar();
PoolKernels pool_kernels_avx2();
PoolKernels pool_kernels_avx512();
PoolKernels pool_kernels(Isa active);

// out[p] = (sum of plane p in order) / plane_size, for `planes` planes.
void global_avg_pool_planes(const float* in, size_t planes, size_t plane_size, float* out);

}  // namespace sparq::kernels
