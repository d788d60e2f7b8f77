// Pooling over one plane (one channel of one sample), and global average
// pooling over many planes. Results are bit-identical to the reference
// backend: max keeps the first NaN and lets padding never win; average sums
// the window in (ky, kx) order, padding adding nothing, then divides by
// kernel_h * kernel_w; global average sums each plane in order, divides by H*W.
// Max pooling also runs on quantized planes (u8 or s8 bytes, one scale per
// sample): the window's largest byte, padding never winning.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/window_geometry.hpp"
#include "kernels/isa/isa.hpp"

namespace sparq::kernels {

// Floats of scratch one plane needs: the padded input regrouped by window
// column and row phase, so that every window tap reads one contiguous run
// covering the whole output plane. A byte plane needs no more.
size_t pool_scratch_floats(const PoolGeometry& g);

struct PoolKernels {
  Isa isa = Isa::kScalar;
  void (*max_plane)(const float* in, float* out, const PoolGeometry& g, float* scratch);
  void (*avg_plane)(const float* in, float* out, const PoolGeometry& g, float* scratch);
  void (*max_plane_u8)(const uint8_t* in, uint8_t* out, const PoolGeometry& g, void* scratch);
  void (*max_plane_s8)(const int8_t* in, int8_t* out, const PoolGeometry& g, void* scratch);
  // max_plane for an input that holds no NaN and no -0 (a ReLU's output), which
  // a plain maximum may reduce in any order; the same results as max_plane.
  void (*max_plane_relu)(const float* in, float* out, const PoolGeometry& g, float* scratch);
  // out[p] = (sum of plane p in order) / plane_size, for `planes` planes of
  // plane_size floats each, back to back.
  void (*global_avg)(const float* in, size_t planes, size_t plane_size, float* out);
};

PoolKernels pool_kernels_scalar();
PoolKernels pool_kernels_avx2();
PoolKernels pool_kernels_avx512();
PoolKernels pool_kernels(Isa active);

// PoolKernels::global_avg without vectors: eight planes' sums interleaved.
void global_avg_pool_planes(const float* in, size_t planes, size_t plane_size, float* out);

}  // namespace sparq::kernels
