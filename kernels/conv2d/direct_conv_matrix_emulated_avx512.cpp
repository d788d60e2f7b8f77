// The matrix tiles on the portable model of the tile unit (tests only).
#include "kernels/conv2d/direct_conv_matrix_impl.hpp"
#include "kernels/matrix_tiles/emulated_tile_unit.hpp"

namespace sparq::kernels {

QuantTileFn direct_conv_matrix_tile_emulated(int channel_tiles, int pixel_tiles) {
  return pick_matrix_tile<EmulatedTileUnit>(channel_tiles, pixel_tiles);
}

}  // namespace sparq::kernels
