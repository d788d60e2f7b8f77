// The sparse layer's AMX tile program (kernels/matrix_tiles) on the tile
// unit, which run_items configures for its run of tasks (TileUnitScope).
#include "kernels/matrix_tiles/amx_tile_unit.hpp"
#include "kernels/sparse_conv3x3/accumulate_tile.hpp"

namespace sparq::kernels::sparse3x3 {

AccumulateFn accumulate_quad_tiles_amx(int channel_tiles, int pixel_vecs) {
  return pick_tile_kernel<TileProgram<AmxTileUnit>, max_pixel_vecs_amx>(channel_tiles, pixel_vecs);
}

}  // namespace sparq::kernels::sparse3x3
