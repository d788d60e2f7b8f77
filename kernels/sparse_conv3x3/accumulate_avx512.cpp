// AVX-512 fp32 microkernel: broadcast weight x 16 pixels, FMA on exact
// integer values (the plan keeps every partial sum below 2^24). Random tap
// patterns run here at k taps per (channel, output channel).
#include <immintrin.h>

#include "kernels/sparse_conv3x3/accumulate_tile.hpp"

namespace sparq::kernels::sparse3x3 {
namespace {

struct F32x16 {
  using Reg = __m512;
  using Acc = float;
  static constexpr int kLanes = 16;
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg load_acc(const float* p) { return _mm512_load_ps(p); }
  static void store_acc(float* p, Reg v) { _mm512_store_ps(p, v); }
  static Reg load_input(const uint8_t* at, int pv) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(at) + pv * kLanes);
  }
  static constexpr int kWeightWords = 1;  // one word, broadcast
  static Reg load_weight(const int32_t* word) {
    return _mm512_castsi512_ps(_mm512_set1_epi32(*word));
  }
  static void multiply_add(Reg& acc, Reg x, Reg w) { acc = _mm512_fmadd_ps(w, x, acc); }
};

}  // namespace

AccumulateFn accumulate_f32_avx512(int out_block, int pixel_vecs) {
  return pick_tile_kernel<RegisterTile<F32x16>, max_pixel_vecs_avx512>(out_block, pixel_vecs);
}

}  // namespace sparq::kernels::sparse3x3
