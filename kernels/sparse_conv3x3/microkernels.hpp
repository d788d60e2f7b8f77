// Per-ISA accumulation microkernels of the sparse 3x3 convolution. Each adds,
// for one pixel tile and one block of OB output channels, every entry of a
// list into the accumulators acc[ob * T + t] (T = tile pixels; the
// output-channel form orders them acc[ob / 16][t][ob % 16]):
//   acc[ob][t] += w_e[ob] * x[offset_e + t]   (kF32: fp32 lanes, fp32 acc)
//   acc[ob][t] += sum_j w_e[ob][j] * x[offset_e + t][j]  (kQuad: int32 acc)
// An entry is 1 + OB int32 words: the byte offset from the tile's first pixel,
// then OB weights (f32 bits for kF32, 4 packed s8 for kQuad).
// Each file is compiled with its ISA's flags and may only be called when
// active_isa() allows it.
#pragma once

#include <cstdint>

#include "kernels/matrix_tiles/tile_program.hpp"
#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"

namespace sparq::kernels::sparse3x3 {

// AccumulateFn (sparse_conv3x3.hpp) `fresh`: the accumulators start from
// zero instead of being loaded (the first input chunk), which spares zeroing
// them in memory beforehand.

// Register-block limits of each implementation (PV = pixel vectors per
// tile): OB x PV accumulators plus OB weights and one input must fit the
// 16 (AVX2) or 32 (AVX-512) vector registers.
// Pixel-vector kernels run OB = 1, 2 or 4 (0: no instantiation).
constexpr int max_pixel_vecs_avx2(int out_block) {
  return out_block == 1 ? 8 : (out_block == 2 ? 6 : (out_block == 4 ? 2 : 0));
}
constexpr int max_pixel_vecs_avx512(int out_block) {
  return out_block <= 2 ? 8 : (out_block == 4 ? 6 : 0);
}
// Output-channel kernels: CV x P accumulators (CV registers of 16 output
// channels, P pixels) plus CV weights and one broadcast pixel.
constexpr int max_pixels_channels_avx512(int channel_vecs) {
  constexpr int kMax[] = {0, 16, 14, 9, 6};
  return channel_vecs >= 1 && channel_vecs <= 4 ? kMax[channel_vecs] : 0;
}
// AMX tile program (kernels/matrix_tiles/tile_program.hpp): its register
// blocks.
constexpr int max_pixel_vecs_amx(int channel_tiles) {
  return max_pixel_tiles(channel_tiles);
}
// The portable kernel is not register-blocked; larger tiles gain nothing.
constexpr int max_pixel_vecs_scalar(int out_block) {
  return out_block == 3 ? 0 : 4;
}

// Returns nullptr when (out_block, pixel_vecs) has no instantiation.
AccumulateFn accumulate_quad_scalar(int out_block, int pixel_vecs, bool signed_input);
AccumulateFn accumulate_f32_avx2(int out_block, int pixel_vecs);
AccumulateFn accumulate_f32_avx512(int out_block, int pixel_vecs);
AccumulateFn accumulate_quad_vnni(int out_block, int pixel_vecs);
// Output-channel form (VectorAxis::kOutputChannels): blocks of 16 x
// channel_vecs output channels, tiles of `pixels` pixels of one output row;
// accumulators acc[cv][pixel][16].
AccumulateFn accumulate_quad_channels_vnni(int channel_vecs, int pixels);
// The AMX tile program on 16 x channel_tiles output channels x 16 x
// pixel_vecs pixels: on the tile unit, or on its portable model (any CPU;
// for tests, far slower).
AccumulateFn accumulate_quad_tiles_amx(int channel_tiles, int pixel_vecs);
AccumulateFn accumulate_quad_tiles_emulated(int channel_tiles, int pixel_vecs);

// The microkernel of `path`, or nullptr when it has no instantiation.
AccumulateFn accumulate_for(const Sparse3x3Path& path, bool signed_input);

// Pixels per vector of the scalar quad kernel's tiles (a plain loop; the
// number only sets the tile granularity).
inline constexpr int kScalarVectorPixels = 16;

}  // namespace sparq::kernels::sparse3x3
