// AVX2 fp32 microkernel: broadcast weight x 8 pixels, FMA on exact integer
// values (the plan keeps every partial sum below 2^24).
#include <immintrin.h>

#include "kernels/sparse_conv3x3/accumulate_tile.hpp"

namespace sparq::kernels::sparse3x3 {
namespace {

struct F32x8 {
  using Reg = __m256;
  using Acc = float;
  static constexpr int kLanes = 8;
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg load_acc(const float* p) { return _mm256_load_ps(p); }
  static void store_acc(float* p, Reg v) { _mm256_store_ps(p, v); }
  static Reg load_input(const uint8_t* at, int pv) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(at) + pv * kLanes);
  }
  static constexpr int kWeightWords = 1;  // one word, broadcast
  static Reg load_weight(const int32_t* word) {
    return _mm256_castsi256_ps(_mm256_set1_epi32(*word));
  }
  static void multiply_add(Reg& acc, Reg x, Reg w) { acc = _mm256_fmadd_ps(w, x, acc); }
};

}  // namespace

AccumulateFn accumulate_f32_avx2(int out_block, int pixel_vecs) {
  return pick_tile_kernel<RegisterTile<F32x8>, max_pixel_vecs_avx2>(out_block, pixel_vecs);
}

}  // namespace sparq::kernels::sparse3x3
