// The sparse layer's AMX tile program (kernels/matrix_tiles) on the tile
// unit, which the caller configures (begin_amx_tiles) for a run of tasks.
#include "kernels/matrix_tiles/amx_tile_unit.hpp"
#include "kernels/sparse_conv3x3/accumulate_tile.hpp"

namespace sparq::kernels::sparse3x3 {

void begin_amx_tiles() {
  configure_tile_unit();
}
void end_amx_tiles() {
  release_tile_unit();
}

AccumulateFn accumulate_quad_tiles_amx(int channel_tiles, int pixel_vecs) {
  return pick_tile_kernel<TileProgram<AmxTileUnit>, max_pixel_vecs_amx>(channel_tiles, pixel_vecs);
}

}  // namespace sparq::kernels::sparse3x3
