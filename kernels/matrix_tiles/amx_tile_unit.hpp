// The AMX tile unit for the tile program (tile_program.hpp): tileloadd,
// tdpbsud (s8 weights x u8 activations), tilestored. Include only from files
// compiled with the AMX flags (*_amx.cpp), and call only where active_isa()
// is kAmx, i.e. the CPU has AMX-TILE/INT8 and Linux granted the tile data
// state (isa.cpp).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/matrix_tiles/tile_program.hpp"

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

// Configures the calling thread's tile unit (ldtilecfg: as slow as a small
// tile's work, so a caller running many tiles configures once) and releases
// it (tilerelease: the thread's tile state back to its initial state, so
// context switches stop saving it).
inline void configure_tile_unit() {
  __asm__ volatile("" ::: "memory");
  _tile_loadconfig(&kTileConfig);
}
inline void release_tile_unit() {
  _tile_release();
}

// The tile operations, on a tile unit configured by configure_tile_unit().
// The instructions take tile numbers as immediates ("n"). Loads clobber
// memory so the gather buffer's stores are done before a tile reads it.
struct AmxTileUnit {
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
}  // namespace sparq::kernels
