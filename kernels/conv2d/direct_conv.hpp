// Dense convolution without im2col. The input planes of one group are copied
// once into a zero-padded buffer whose rows and columns are split by stride
// phase, so that for every reduction step (an input channel, or a quad of
// them, at one kernel tap) the input of output pixel q = oy * width + ox sits
// at a fixed offset from q: the kernel is a GEMM whose B operand is addressed,
// not copied (the aligner becomes addressing).
//
// Three packed layouts share that scheme:
//  - channel quads (quantized, >= 4 input channels per group): 4 consecutive
//    input channels of one pixel side by side, the operand of one vpdpbusd lane;
//  - window quads (quantized first layers, < 4 input channels per group): 4
//    consecutive kernel columns of one channel side by side;
//  - f32 planes (float convolution): one channel per step, steps in the
//    reference order (input channel, ky, kx).
// Columns ox >= out_w of the flat pixel index are computed and discarded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/common/window_geometry.hpp"
#include "kernels/isa/isa.hpp"
#include "kernels/quantize/quantize.hpp"
#include "sparq/ops.hpp"

namespace sparq::kernels {

enum class DirectLayoutKind { kChannelQuads, kWindowQuads, kF32Planes };

// Where each reduction step reads, for one group's packed input.
struct DirectLayout {
  DirectLayoutKind kind = DirectLayoutKind::kF32Planes;
  int64_t row_phases = 1, col_phases = 1;  // min(stride, kernel) per axis
  int64_t plane_h = 0, plane_w = 0;        // rows / columns of one phase plane
  int64_t planes = 0;                      // phase planes in the buffer
  // Elements from one plane's start to the next: plane_h * plane_w rounded
  // up to whole 16-element rows of the tile unit, so that each K-row a
  // matrix tile loads (16 pixels of one plane) is one aligned 64-byte line
  // instead of two, wherever the tile's first pixel is a multiple of 16.
  int64_t plane_stride = 0;
  int64_t pixels = 0;                 // flat output pixels: out_h * plane_w
  int64_t element_bytes = 4;          // 4: a quad of bytes, or one f32
  std::vector<int64_t> step_offsets;  // per step, in elements from the buffer start
  // Elements to allocate: the planes plus zeroed slack that the last tile may
  // read past the end (its garbage columns).
  int64_t buffer_elements(int64_t tile_pixels) const {
    return planes * plane_stride + tile_pixels + plane_w + 8;
  }
};

DirectLayout make_direct_layout(const ConvGeometry& g, DirectLayoutKind kind);

// Pixels x < n of 4 channel rows, pixel x at byte x * stride (1 or 2) of
// each, as n quads (channel d in byte d) XORed with `flip`: channel-quad
// rows of the packed input, `rows` of them (row r of channel d at
// src[d] + r * row_step, its quads at dst + 4 n r), where an ISA has a wide
// path for them (interleave_quads.hpp); null: the baseline SSE2 copy.
using QuadRowsFn = void (*)(const uint8_t* const src[4], int64_t n, int stride, uint8_t flip,
                            uint8_t* dst, int64_t rows, int64_t row_step);

// Packs the input planes of one group (`in` points at its first channel) into
// `out` (buffer_elements(tile) elements). Quantized layouts XOR every byte,
// padding included, with `flip` (0x80 turns s8 into u8 = s8 + 128). Channel
// quads' rows of stride 1 or 2 go through `quad_rows` where it is set.
void pack_direct_input_u8(const uint8_t* in, const ConvGeometry& g, const DirectLayout& layout,
                          uint8_t flip, int64_t tile_pixels, QuadRowsFn quad_rows, uint8_t* out);
// The same for the layout's slots [first_slot, end_slot) only (a slot: one
// channel quad's planes, or one window-quad plane: an input channel's
// window quad j of each kernel row at one row phase; the zeroed slack with
// the last slot), so that several threads can pack one group: the 3-channel
// stem's 12 planes split evenly over 2 or 3 threads, where its 3 channels
// did not.
int64_t direct_input_slots(const ConvGeometry& g, const DirectLayout& layout);
void pack_direct_input_u8_slots(const uint8_t* in, const ConvGeometry& g,
                                const DirectLayout& layout, uint8_t flip, int64_t tile_pixels,
                                QuadRowsFn quad_rows, int64_t first_slot, int64_t end_slot,
                                uint8_t* out);
void pack_direct_input_f32(const float* in, const ConvGeometry& g, const DirectLayout& layout,
                           int64_t tile_pixels, float* out);

// Weight operands: per group, per block of `block` output channels
// (kOutBlock for the pixel-vector tiles, kLaneBlock for the channel-lane
// tiles), per step, `block` entries (a dword of 4 s8 for quads, one f32 for
// planes); output channels past the group's end are zero.
inline constexpr int64_t kOutBlock = 8;
// Output channels of a channel-lane tile: two vectors of 16 int32 lanes.
inline constexpr int64_t kLaneBlock = 32;
int64_t out_blocks(const ConvGeometry& g, int64_t block = kOutBlock);
// `weights` are int8 values [O, I/groups, KH, KW]. Also returns, per output
// channel, 128 * sum of its weights (the correction for s8 inputs read as u8).
std::vector<int8_t> pack_direct_weights_s8(const int8_t* weights, const ConvGeometry& g,
                                           const DirectLayout& layout,
                                           std::vector<int32_t>& compensation,
                                           int64_t block = kOutBlock);
// Matrix-tile weights (kernels/matrix_tiles/tile_program.hpp): per group,
// per block of 16 * channel_tiles output channels, matrix_tile_entries(...)
// K-tiles of 16 steps each (channel quads tap-major), whose row offsets are
// the steps' byte offsets in the packed input (so the tile's input is the
// packed input at its first pixel). Also returns the compensation, as
// pack_direct_weights_s8 does.
int64_t matrix_tile_entries(const DirectLayout& layout);
std::vector<int32_t> pack_direct_weights_tiles(const int8_t* weights, const ConvGeometry& g,
                                               const DirectLayout& layout,
                                               std::vector<int32_t>& compensation,
                                               int channel_tiles);
std::vector<float> pack_direct_weights_f32(const float* weights, const ConvGeometry& g,
                                           const DirectLayout& layout);

// One tile: kOutBlock output channels x `tile_pixels` flat pixels starting at
// `first_pixel`, written (after the epilogue) to `out[o * out_stride + p]`
// for o < rows and p < valid: a staging buffer (out_stride = tile_pixels),
// or the output planes themselves when flat pixels are output pixels.
struct QuantTileArgs {
  const uint8_t* input = nullptr;  // packed (quads)
  const int64_t* step_offsets = nullptr;
  int64_t steps = 0;
  const int8_t* weights = nullptr;  // this block: [steps][kOutBlock][4]
  int64_t first_pixel = 0;
  const int32_t* compensation = nullptr;  // [kOutBlock]
  float act_scale = 1.0f;                 // this sample's input scale
  const float* weight_scale = nullptr;    // [kOutBlock]
  const float* bias = nullptr;            // [kOutBlock]
  Activation activation = Activation::kNone;
  float* out = nullptr;
  int64_t out_stride = 0;
  int64_t rows = kOutBlock;
  // Pixels stored: at most one tile's, or where the kernels take spans
  // (DirectConvKernels::takes_spans, the matrix tiles) any number, the
  // tiles that cover them computed in one call.
  int64_t valid = 0;
  // The fused static quantize: with out_bytes set, each value goes through
  // the quantize rule (FusedQuantize) and the byte is written to
  // out_bytes[o * out_stride + p] instead of `out`.
  uint8_t* out_bytes = nullptr;
  FusedQuantize out_quantization;
  // With `out` and range set: every value stored to `out` also widens
  // *range (the sample's range for a dynamic quantize that reads it).
  RangeLanes* range = nullptr;
  // Matrix tiles: this block's K-tiles (pack_direct_weights_tiles) instead
  // of `weights` and `steps`.
  const int32_t* tile_entries = nullptr;
  int64_t tile_entry_count = 0;
};

struct FloatTileArgs {
  const float* input = nullptr;
  const int64_t* step_offsets = nullptr;
  int64_t steps = 0;
  const float* weights = nullptr;  // this block: [steps][kOutBlock]
  int64_t first_pixel = 0;
  const float* bias = nullptr;  // [kOutBlock]
  Activation activation = Activation::kNone;
  float* out = nullptr;
};

// Three tile shapes over the same packed input:
//  - pixel-vector tiles (quant_tile): kOutBlock rows x tile_pixels flat
//    pixels, each vector 16 pixels of one output channel, a weight dword
//    broadcast per row and step. Pixels come in whole vectors, so a plane
//    whose pixel count is not a multiple of 16 (14x14 = 12.25 vectors,
//    7x7 = 3.06) computes lanes it throws away, in a short last tile that
//    waits on its few accumulators.
//  - channel-lane tiles (lane_tile, where the ISA has one): kLaneBlock rows
//    x up to lane_tile_pixels pixels, each vector 16 output channels of one
//    pixel, each pixel's input quad broadcast per step, so a tile is any
//    number of pixels; the epilogue transposes the accumulators back into
//    rows. For output planes (flat pixels = output pixels) only: `out` /
//    `out_bytes` are the planes, out_stride the plane size, the args'
//    per-row arrays hold kLaneBlock entries and `weights` [steps][kLaneBlock][4].
//  - matrix tiles (AMX): 16 * CV rows x 16 * PV flat pixels as CV x PV tiles
//    of the tile unit, 16 steps per tdpbsud (tile_entries); the epilogue is
//    the pixel-vector tiles' on 16-pixel rows, and the per-row arrays hold
//    16 * CV entries.
using QuantTileFn = void (*)(const QuantTileArgs& args);
struct DirectConvKernels {
  Isa isa = Isa::kScalar;
  int64_t tile_pixels = 16;  // flat pixels per tile (a multiple of the vector width)
  QuantTileFn quant_tile;
  // quant_tile and lane_tile compute any number of pixels per call
  // (args.valid), tile after tile, the arguments read once.
  bool takes_spans = false;
  int64_t lane_tile_pixels = 0;  // 0: no channel-lane tile
  QuantTileFn lane_tile = nullptr;
  // The matrix tile of CV channel tiles x PV pixel tiles (1 <= CV <= 4,
  // 1 <= PV <= max_pixel_tiles(CV)); null where the ISA has none. A thread
  // runs them inside a TileUnitScope (matrix_tiles/tile_unit_scope.hpp).
  QuantTileFn (*matrix_tile)(int channel_tiles, int pixel_tiles) = nullptr;
  // The packing's wide row copy (pack_direct_input_u8), null where none.
  QuadRowsFn quad_rows = nullptr;
};
struct FloatConvKernels {
  Isa isa = Isa::kScalar;
  int64_t tile_pixels = 16;
  void (*float_tile)(const FloatTileArgs& args);
};

DirectConvKernels direct_conv_kernels_scalar();
DirectConvKernels direct_conv_kernels_avx2();
DirectConvKernels direct_conv_kernels_avx512();
DirectConvKernels direct_conv_kernels_vnni();
DirectConvKernels direct_conv_kernels_amx();
DirectConvKernels direct_conv_kernels(Isa active);
// The matrix tiles on the portable model of the tile unit, with the AVX-512
// epilogue: for tests on CPUs with AVX-512 but without AMX (far slower).
QuantTileFn direct_conv_matrix_tile_emulated(int channel_tiles, int pixel_tiles);

FloatConvKernels float_conv_kernels_scalar();
FloatConvKernels float_conv_kernels_avx2();
FloatConvKernels float_conv_kernels_avx512();
FloatConvKernels float_conv_kernels(Isa active);

}  // namespace sparq::kernels
