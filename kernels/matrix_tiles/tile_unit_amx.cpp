// The tile unit's configuration (tile_unit_scope.hpp), compiled with the
// AMX flags.
#include <immintrin.h>

#include <cstdint>

#include "kernels/matrix_tiles/tile_unit_scope.hpp"

namespace sparq::kernels {
namespace {

// Every tile of every program is 16 rows x 64 bytes (palette 1). Static
// storage: GCC 12 at -O2 dropped a local configuration passed to
// ldtilecfg.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};
static_assert(sizeof(TileConfig) == 64);
const TileConfig kTileConfig;

}  // namespace

void configure_amx_tile_unit() {
  __asm__ volatile("" ::: "memory");
  _tile_loadconfig(&kTileConfig);
}

void release_amx_tile_unit() {
  _tile_release();
}

}  // namespace sparq::kernels
