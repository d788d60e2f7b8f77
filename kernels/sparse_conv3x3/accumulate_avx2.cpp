// AVX2 fp32 microkernel: broadcast weight x 8 pixels, FMA on exact integer
// values (the plan keeps every partial sum below 2^24).
#include <immintrin.h>

#include "kernels/sparse_conv3x3/microkernels.hpp"

namespace sparq::kernels::sparse3x3 {
namespace {

// Every loop over the register block is fully unrolled (forced: otherwise
// GCC 12 keeps the accumulator array in memory for OB = 4).

template <int OB, int PV>
void accumulate(const uint8_t* tile_input, const int32_t* entries, const int32_t* entries_end,
                void* acc_raw) {
  constexpr int kTile = PV * 8;
  auto* acc = static_cast<float*>(acc_raw);
  __m256 a[OB][PV];
#pragma GCC unroll 16
  for (int ob = 0; ob < OB; ++ob) {
#pragma GCC unroll 16
    for (int pv = 0; pv < PV; ++pv) a[ob][pv] = _mm256_load_ps(acc + ob * kTile + pv * 8);
  }
  for (const int32_t* e = entries; e != entries_end; e += 1 + OB) {
    const auto* x = reinterpret_cast<const float*>(tile_input + e[0]);
    __m256 w[OB];
#pragma GCC unroll 16
    for (int ob = 0; ob < OB; ++ob) w[ob] = _mm256_castsi256_ps(_mm256_set1_epi32(e[1 + ob]));
#pragma GCC unroll 16
    for (int pv = 0; pv < PV; ++pv) {
      const __m256 v = _mm256_loadu_ps(x + pv * 8);
#pragma GCC unroll 16
      for (int ob = 0; ob < OB; ++ob) a[ob][pv] = _mm256_fmadd_ps(w[ob], v, a[ob][pv]);
    }
  }
#pragma GCC unroll 16
  for (int ob = 0; ob < OB; ++ob) {
#pragma GCC unroll 16
    for (int pv = 0; pv < PV; ++pv) _mm256_store_ps(acc + ob * kTile + pv * 8, a[ob][pv]);
  }
}

template <int OB>
AccumulateFn pick(int pixel_vecs) {
  if (pixel_vecs < 1 || pixel_vecs > max_pixel_vecs_avx2(OB)) return nullptr;
  // Instantiations beyond a block's register budget are never reached
  // (clamped to a valid size so they still compile to something sane).
  constexpr int kMax = OB == 1 ? 8 : (OB == 2 ? 6 : 2);
  switch (pixel_vecs) {
    case 1:
      return &accumulate<OB, 1>;
    case 2:
      return &accumulate<OB, 2>;
    case 3:
      return &accumulate<OB, (3 <= kMax ? 3 : kMax)>;
    case 4:
      return &accumulate<OB, (4 <= kMax ? 4 : kMax)>;
    case 5:
      return &accumulate<OB, (5 <= kMax ? 5 : kMax)>;
    case 6:
      return &accumulate<OB, (6 <= kMax ? 6 : kMax)>;
    case 7:
      return &accumulate<OB, (7 <= kMax ? 7 : kMax)>;
    case 8:
      return &accumulate<OB, (8 <= kMax ? 8 : kMax)>;
    default:
      return nullptr;
  }
}

}  // namespace

AccumulateFn accumulate_f32_avx2(int out_block, int pixel_vecs) {
  switch (out_block) {
    case 1:
      return pick<1>(pixel_vecs);
    case 2:
      return pick<2>(pixel_vecs);
    case 4:
      return pick<4>(pixel_vecs);
    default:
      return nullptr;
  }
}

}  // namespace sparq::kernels::sparse3x3
