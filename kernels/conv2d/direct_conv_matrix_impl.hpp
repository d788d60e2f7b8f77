// The matrix tiles of the direct convolution (direct_conv.hpp) on a tile
// unit: the tile program (kernels/matrix_tiles) accumulates 16 CV output
// channels x 16 PV flat pixels into rows of int32 on the stack, and the
// pixel-vector tiles' epilogue turns each 16-pixel row vector into output.
// Include from a file compiled with the AVX-512 flags (the epilogue), after
// the header of the tile unit it instantiates.
#pragma once

#include <array>
#include <utility>

#include "kernels/conv2d/direct_conv_quant_epilogue.hpp"
#include "kernels/matrix_tiles/tile_program.hpp"

namespace sparq::kernels {
namespace {

template <class Unit, int CV, int PV>
void matrix_tile(const QuantTileArgs& a) {
  constexpr int kRows = 16 * CV, kPixels = 16 * PV;
  // Two accumulator blocks: the tile unit computes tile t + 1 into one while
  // the epilogue reads tile t's from the other, so neither waits on the
  // other's latency (a 1x1 layer's tile is one K-tile: its loads, dots and
  // stores take as long as its epilogue).
  alignas(64) int32_t acc[2][kRows * kPixels];
  const int32_t* entries = a.tile_entries;
  const int32_t* entries_end = entries + a.tile_entry_count * tile_entry_words(CV);
  const int64_t tiles = (a.valid + kPixels - 1) / kPixels;
  auto compute = [&](int64_t t) {
    TileProgram<Unit>::template run<CV, PV>(a.input + (a.first_pixel + t * kPixels) * 4, entries,
                                            entries_end, acc[t & 1], true);
  };
  TileEpilogue<ArchAvx512, kRows> epilogue(a);
  const int64_t rows = std::min<int64_t>(a.rows, kRows);
  compute(0);
  for (int64_t t = 0; t < tiles; ++t) {
    if (t + 1 < tiles) compute(t + 1);
    epilogue.template store_rows<PV>(acc[t & 1], kPixels, rows, t * kPixels);
  }
  epilogue.finish();
}

// The instantiation of (channel_tiles, pixel_tiles), or nullptr.
template <class Unit>
QuantTileFn pick_matrix_tile(int channel_tiles, int pixel_tiles) {
  if (pixel_tiles < 1 || pixel_tiles > max_pixel_tiles(channel_tiles)) return nullptr;
  constexpr std::array<std::array<QuantTileFn, 3>, 4> kTable = {{
      {&matrix_tile<Unit, 1, 1>, &matrix_tile<Unit, 1, 2>, &matrix_tile<Unit, 1, 3>},
      {&matrix_tile<Unit, 2, 1>, &matrix_tile<Unit, 2, 2>, nullptr},
      {&matrix_tile<Unit, 3, 1>, nullptr, nullptr},
      {&matrix_tile<Unit, 4, 1>, nullptr, nullptr},
  }};
  static_assert(max_pixel_tiles(1) == 3 && max_pixel_tiles(2) == 2 && max_pixel_tiles(3) == 1 &&
                max_pixel_tiles(4) == 1);
  return kTable[static_cast<size_t>(channel_tiles - 1)][static_cast<size_t>(pixel_tiles - 1)];
}

}  // namespace
}  // namespace sparq::kernels
