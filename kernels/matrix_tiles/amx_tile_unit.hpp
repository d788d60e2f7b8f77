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

// The tile operations, on a tile unit configured for the calling thread
// (TileUnitScope, tile_unit_scope.hpp).
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
