// A portable, bit-exact model of the AMX tile unit for the tile program
// (tile_program.hpp), so the program the AMX paths run (entry packing, direct
// and gathered K-rows, register blocking, accumulator layout) is tested bit
// for bit on every CPU, not only on AMX ones. The model follows the
// instruction definitions (Intel SDM, TILELOADD / TDPBSUD / TILESTORED) for
// the one configuration the program uses: 8 tiles of 16 rows x 64 bytes.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/matrix_tiles/tile_program.hpp"

namespace sparq::kernels {
namespace {

struct EmulatedTileUnit {
  uint8_t tiles[8][kTileRows][kTileRowBytes];

  template <int T>
  void zero() {
    std::memset(tiles[T], 0, sizeof(tiles[T]));
  }
  template <int T>
  void load(const void* base, int64_t stride) {
    const auto* bytes = static_cast<const uint8_t*>(base);
    for (int row = 0; row < kTileRows; ++row) {
      std::memcpy(tiles[T][row], bytes + row * stride, kTileRowBytes);
    }
  }
  template <int T>
  void store(void* base, int64_t stride) {
    auto* bytes = static_cast<uint8_t*>(base);
    for (int row = 0; row < kTileRows; ++row) {
      std::memcpy(bytes + row * stride, tiles[T][row], kTileRowBytes);
    }
  }
  // tdpbsud: C[m][n] += sum over k, j of s8 A[m][4k + j] x u8 B[k][4n + j],
  // in int32 (wrapping, as the instruction does).
  template <int C, int A, int B>
  void dot() {
    for (int m = 0; m < kTileRows; ++m) {
      for (int n = 0; n < 16; ++n) {
        int32_t sum;
        std::memcpy(&sum, tiles[C][m] + 4 * n, 4);
        uint32_t wrapped = static_cast<uint32_t>(sum);
        for (int k = 0; k < kTileRows; ++k) {
          for (int j = 0; j < 4; ++j) {
            const int32_t a = static_cast<int8_t>(tiles[A][m][4 * k + j]);
            const int32_t b = tiles[B][k][4 * n + j];
            wrapped += static_cast<uint32_t>(a * b);
          }
        }
        sum = static_cast<int32_t>(wrapped);
        std::memcpy(tiles[C][m] + 4 * n, &sum, 4);
      }
    }
  }
  static void copy_row(uint8_t* to, const uint8_t* from) { std::memcpy(to, from, kTileRowBytes); }
};

}  // namespace
}  // namespace sparq::kernels
