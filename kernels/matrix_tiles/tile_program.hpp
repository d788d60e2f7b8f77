// The AMX tile program: the register-blocked loop that multiplies K-tiles of
// weights by K-tiles of activations on the tile unit. Two layers run it: the
// sparse 3x3 convolution ("quadtile" paths) and the dense direct convolution
// (kernels/conv2d/direct_conv.hpp).
//
// One tdpbsud multiplies a 16 x 64 byte weight tile A (16 output channels x
// 16 K-rows x 4 input channels, s8) by a 16 x 64 byte activation tile B (16
// K-rows x 16 pixels x 4 channels, u8) into a 16 x 16 int32 tile C (output
// channel x pixel): 16384 MACs. A K-row is 64 bytes of input, 4 bytes per
// pixel for 16 consecutive pixels, at a fixed byte offset from the tile's
// first pixel: a (quad lane, tap) of the sparse layer's staged input, or a
// (channel quad, tap) step of the dense layer's packed input. Nothing is
// re-laid out: the offset is the activation aligner.
//
// tileloadd takes one stride. K-rows that are evenly spaced (16 lanes or
// channel quads at one tap) load straight from the input; any other set
// (mixed taps, skipped lanes, a short last K-tile) is gathered first, 64
// bytes per row, into a 1 KiB buffer.
//
// A tile entry ("K-tile") is tile_entry_words(CV) int32 words:
//   [0, 16)   byte offset of each K-row from the tile's first pixel (unused
//             rows repeat row 0; their weights are zero)
//   [16]      the rows' common byte stride when all 16 are evenly spaced
//             (load in place), 0 when they must be gathered
//   [17, 32)  zero (keeps the weight tiles 64-byte aligned within the entry)
//   then CV weight tiles of 256 words: A[m][4k + j] = weight of output
//   channel 16cv + m at K-row k's input channel j.
// The accumulators are acc[(16 cv + m) * 16 PV + pixel]: one row of pixels
// per output channel.
//
// Unit supplies the tile operations: the AMX instructions (amx_tile_unit.hpp),
// or a bit-exact model of them in portable code (emulated_tile_unit.hpp) that
// runs this same program on CPUs without AMX, so its addressing, packing and
// blocking are tested everywhere.
#pragma once

#include <cstdint>
#include <utility>

namespace sparq::kernels {

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

// The register blocks the program runs: CV weight tiles of 16 output
// channels x PV activation tiles of 16 pixels need CV * PV + PV + 1 of the 8
// tile registers.
constexpr int max_pixel_tiles(int channel_tiles) {
  return channel_tiles >= 1 && channel_tiles <= 4 ? 7 / (channel_tiles + 1) : 0;
}

// The byte stride of an entry whose 16 K-rows are at `offsets`, the first
// `used` of them real (the rest repeat row 0), or 0 when it is gathered: in
// place only when all 16 rows are real and evenly spaced (a short entry's
// stride would walk past the input).
inline int64_t tile_entry_stride(const int64_t offsets[kTileRows], int used) {
  bool even = used == kTileRows && offsets[1] > offsets[0];
  for (int k = 2; k < kTileRows && even; ++k) {
    even = offsets[k] - offsets[0] == k * (offsets[1] - offsets[0]);
  }
  return even ? offsets[1] - offsets[0] : 0;
}

// An entry's header words [0, kTileHeaderWords) from its rows' offsets.
inline void write_tile_entry_header(const int64_t offsets[kTileRows], int used, int32_t* entry) {
  for (int k = 0; k < kTileRows; ++k) entry[k] = static_cast<int32_t>(offsets[k]);
  entry[kTileRows] = static_cast<int32_t>(tile_entry_stride(offsets, used));
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

}  // namespace sparq::kernels
