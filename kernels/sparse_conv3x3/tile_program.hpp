// The AMX tile program of the sparse 3x3 convolution ("quadtile" paths).
//
// One tdpbsud multiplies a 16 x 64 byte weight tile A (16 output channels x
// 16 K-rows x 4 input channels, s8) by a 16 x 64 byte activation tile B (16
// K-rows x 16 pixels x 4 channels, u8) into a 16 x 16 int32 tile C (output
// channel x pixel): 16384 MACs. A K-row is one (quad lane, tap) of the staged
// input, so row k of B is the 64 bytes of lane l at tap q for 16 consecutive
// grid pixels: lane_base(l) + 4 * (tap_offset(q) + p), nothing re-laid out.
// Only the kept (lane, tap) pairs of a block of output channels become
// K-rows, which is where pattern sharing pays: a block whose channels share
// positions has k/9 of the dense K-rows.
//
// tileloadd takes one stride. K-rows 16 lanes apart at one tap are evenly
// spaced (the lane stride) and load straight from the staged planes; any
// other set (mixed taps, skipped lanes) is gathered first, 64 bytes per row,
// into a 1 KiB buffer: the software half of the chip's activation aligner.
//
// A tile entry ("K-tile") is kTileEntryWords(CV) int32 words:
//   [0, 16)   byte offset of each K-row from the tile's first pixel (unused
//             rows repeat row 0; their weights are zero)
//   [16]      the rows' common byte stride when all 16 are evenly spaced
//             (load in place), 0 when they must be gathered
//   [17, 32)  zero (keeps the weight tiles 64-byte aligned within the entry)
//   then CV weight tiles of 256 words: A[m][4k + j] = w(out 16cv + m,
//   in 4 lane(k) + j, tap(k)).
// The accumulators are the pixel form's, acc[ob * T + t] (T = 16 PV).
//
// Unit supplies the tile operations: the AMX instructions
// (accumulate_amx.cpp), or a bit-exact model of them in portable code
// (accumulate_amx_emulated.cpp) that runs this same program on CPUs without
// AMX, so its addressing, packing and blocking are tested everywhere.
#pragma once

#include <cstdint>
#include <utility>

#include "kernels/sparse_conv3x3/microkernels.hpp"

namespace sparq::kernels::sparse3x3 {

inline constexpr int kTileRows = 16;          // K-rows (4 input channels each) per tile
inline constexpr int kTileRowBytes = 64;      // 16 pixels x 4 bytes, or 16 K-rows x 4 bytes
inline constexpr int kTileHeaderWords = 32;   // row offsets, stride, padding
inline constexpr int kTileWeightWords = 256;  // one 16 x 64 byte weight tile
constexpr int tile_entry_words(int channel_tiles) {
  return kTileHeaderWords + channel_tiles * kTileWeightWords;
}

// Calls f(std::integral_constant<int, i>) for i = 0 .. N-1: tile numbers are
// immediates of the tile instructions, so the loops over them must unroll at
// compile time.
template <int N, class F>
inline void for_each_index(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (f(std::integral_constant<int, I>{}), ...);
  }
  (std::make_integer_sequence<int, N>{});
}

template <class Unit>
struct TileProgram {
  // CV weight tiles (16 CV output channels) x PV activation tiles (16 PV
  // pixels): CV * PV accumulator tiles, PV activation tiles and one weight
  // tile live in the 8 tile registers.
  template <int CV, int PV>
  static void run(const uint8_t* tile_input, const int32_t* entries, const int32_t* entries_end,
                  void* acc_raw, bool fresh) {
    static_assert(CV * PV + PV + 1 <= 8, "more tiles than the 8 tile registers");
    constexpr int kTile = PV * 16;         // pixels per tile: acc row length
    constexpr int kFirstB = CV * PV;       // activation tiles kFirstB .. kFirstB + PV - 1
    constexpr int kWeight = CV * PV + PV;  // the weight tile
    auto* acc = static_cast<int32_t*>(acc_raw);
    // Gathered activation tiles (on the stack: a thread_local costs a TLS
    // lookup per use in a shared library).
    alignas(64) uint8_t gathered[PV][kTileRows * kTileRowBytes];
    Unit unit;
    for_each_index<CV * PV>([&](auto c) {
      constexpr int kC = decltype(c)::value;
      int32_t* at = acc + (kC / PV) * 16 * kTile + (kC % PV) * 16;
      if (fresh) {
        unit.template zero<kC>();
      } else {
        unit.template load<kC>(at, kTile * 4);
      }
    });
    for (const int32_t* e = entries; e != entries_end; e += tile_entry_words(CV)) {
      const int32_t stride = e[kTileRows];
      for_each_index<PV>([&](auto v) {
        constexpr int kV = decltype(v)::value;
        if (stride != 0) {
          unit.template load<kFirstB + kV>(tile_input + e[0] + kV * kTileRowBytes, stride);
        } else {
          uint8_t* rows = gathered[kV];
          for (int k = 0; k < kTileRows; ++k) {
            unit.copy_row(rows + k * kTileRowBytes, tile_input + e[k] + kV * kTileRowBytes);
          }
          unit.template load<kFirstB + kV>(rows, kTileRowBytes);
        }
      });
      for_each_index<CV>([&](auto w) {
        constexpr int kW = decltype(w)::value;
        unit.template load<kWeight>(e + kTileHeaderWords + kW * kTileWeightWords, kTileRowBytes);
        for_each_index<PV>([&](auto v) {
          constexpr int kV = decltype(v)::value;
          unit.template dot<kW * PV + kV, kWeight, kFirstB + kV>();
        });
      });
    }
    for_each_index<CV * PV>([&](auto c) {
      constexpr int kC = decltype(c)::value;
      unit.template store<kC>(acc + (kC / PV) * 16 * kTile + (kC % PV) * 16, kTile * 4);
    });
  }
};

}  // namespace sparq::kernels::sparse3x3
