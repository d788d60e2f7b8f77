// The AMX tile program (tile_program.hpp) on the tile unit: tileloadd,
// tdpbsud (s8 weights x u8 activations), tilestored. Callable only where
// active_isa() is kAmx, i.e. the CPU has AMX-TILE/INT8 and Linux granted the
// tile data state (isa.cpp).
#include <immintrin.h>

#include <cstdint>

#include "kernels/sparse_conv3x3/accumulate_tile.hpp"
#include "kernels/sparse_conv3x3/tile_program.hpp"

namespace sparq::kernels::sparse3x3 {
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

// The instructions take tile numbers as immediates ("n"). Loads clobber
// memory so the gather buffer's stores are done before a tile reads it.
struct TileUnit {
  TileUnit() {
    __asm__ volatile("" ::: "memory");
    _tile_loadconfig(&kTileConfig);
  }
  ~TileUnit() { _tile_release(); }
  template <int T>
  void zero() {
    __asm__ volatile("tilezero %%tmm%c0" ::"n"(T));
  }
  template <int T>
  void load(const void* base, int64_t stride) {
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm%c2" ::"r"(base), "r"(stride), "n"(T) : "memory");
  }
  template <int T>
  void store(void* base, int64_t stride) {
    __asm__ volatile("tilestored %%tmm%c2, (%0,%1,1)" ::"r"(base), "r"(stride), "n"(T) : "memory");
  }
  // C += A (s8) . B (u8); AT&T order: B, A, C.
  template <int C, int A, int B>
  void dot() {
    __asm__ volatile("tdpbsud %%tmm%c0, %%tmm%c1, %%tmm%c2" ::"n"(B), "n"(A), "n"(C));
  }
  static void copy_row(uint8_t* to, const uint8_t* from) {
    _mm512_store_si512(to, _mm512_loadu_si512(from));
  }
};

}  // namespace

AccumulateFn accumulate_quad_tiles_amx(int channel_tiles, int pixel_vecs) {
  return pick_tile_kernel<TileProgram<TileUnit>, max_pixel_vecs_amx>(channel_tiles, pixel_vecs);
}

}  // namespace sparq::kernels::sparse3x3
