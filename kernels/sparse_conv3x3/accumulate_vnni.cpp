// AVX512-VNNI quad microkernel: one vpdpbusd lane sums the 4 channels of a
// quad at one tap position for one pixel (u8 activations x s8 weights, exact
// int32). 16 pixels x 4 channels = 64 MACs per instruction.
#include <immintrin.h>

#include "kernels/sparse_conv3x3/accumulate_tile.hpp"

namespace sparq::kernels::sparse3x3 {
namespace {

struct QuadU8x16 {
  using Reg = __m512i;
  using Acc = int32_t;
  static constexpr int kLanes = 16;
  static Reg load_acc(const int32_t* p) { return _mm512_load_si512(p); }
  static void store_acc(int32_t* p, Reg v) { _mm512_store_si512(p, v); }
  static Reg load_input(const uint8_t* at, int pv) { return _mm512_loadu_si512(at + pv * 64); }
  static Reg broadcast(int32_t word) { return _mm512_set1_epi32(word); }
  // acc += dot4(u8 x, s8 w) per 32-bit lane, written in place: with the
  // intrinsic GCC 12 copies the accumulator around the (destructive)
  // instruction when many accumulators are live.
  static void multiply_add(Reg& acc, Reg x, Reg w) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w));
  }
};

}  // namespace

AccumulateFn accumulate_quad_vnni(int out_block, int pixel_vecs) {
  return pick_tile_kernel<RegisterTile<QuadU8x16>, max_pixel_vecs_avx512>(out_block, pixel_vecs);
}

}  // namespace sparq::kernels::sparse3x3
