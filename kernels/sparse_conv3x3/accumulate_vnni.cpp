// AVX512-VNNI quad microkernel: one vpdpbusd lane sums the 4 channels of a
// quad at one tap position for one pixel (u8 activations x s8 weights, exact
// int32). 16 pixels x 4 channels = 64 MACs per instruction.
#include <immintrin.h>

#include <cstring>

#include "kernels/common/dot_quads_vnni.hpp"
#include "kernels/sparse_conv3x3/accumulate_tile.hpp"

namespace sparq::kernels::sparse3x3 {
namespace {

struct QuadU8x16 {
  using Reg = __m512i;
  using Acc = int32_t;
  static constexpr int kLanes = 16;
  static Reg zero() { return _mm512_setzero_si512(); }
  static Reg load_acc(const int32_t* p) { return _mm512_load_si512(p); }
  static void store_acc(int32_t* p, Reg v) { _mm512_store_si512(p, v); }
  static Reg load_input(const uint8_t* at, int pv) { return _mm512_loadu_si512(at + pv * 64); }
  static constexpr int kWeightWords = 1;  // one word, broadcast
  static Reg load_weight(const int32_t* word) { return _mm512_set1_epi32(*word); }
  static void multiply_add(Reg& acc, Reg x, Reg w) { dpbusd_in_place(acc, x, w); }
};

// Output-channel form: one vpdpbusd lane is one output channel; the 4 input
// channels of one pixel at one tap are broadcast to all 16 lanes, and each
// entry carries 16 channels x 4 bytes of weights per register. Every pixel of
// a tile is useful work (tiles are row segments), where the pixel form
// computes whole 16-pixel vectors of a padded grid: the better layout for
// small planes (7x7: 49 of the pixel form's 64 grid pixels are real).
struct QuadChannelsU8 {
  using Reg = __m512i;
  using Acc = int32_t;
  static constexpr int kLanes = 16;        // output channels per register
  static constexpr int kWeightWords = 16;  // 16 channels x 4 s8 weights
  static Reg zero() { return _mm512_setzero_si512(); }
  static Reg load_acc(const int32_t* p) { return _mm512_load_si512(p); }
  static void store_acc(int32_t* p, Reg v) { _mm512_store_si512(p, v); }
  static Reg load_input(const uint8_t* at, int pixel) {
    int32_t quad;
    std::memcpy(&quad, at + 4 * pixel, 4);
    return _mm512_set1_epi32(quad);
  }
  static Reg load_weight(const int32_t* words) { return _mm512_loadu_si512(words); }
  static void multiply_add(Reg& acc, Reg x, Reg w) { dpbusd_in_place(acc, x, w); }
};

}  // namespace

AccumulateFn accumulate_quad_vnni(int out_block, int pixel_vecs) {
  return pick_tile_kernel<RegisterTile<QuadU8x16>, max_pixel_vecs_avx512>(out_block, pixel_vecs);
}

AccumulateFn accumulate_quad_channels_vnni(int channel_vecs, int pixels) {
  return pick_tile_kernel<RegisterTile<QuadChannelsU8>, max_pixels_channels_avx512>(channel_vecs,
                                                                                    pixels);
}

}  // namespace sparq::kernels::sparse3x3
