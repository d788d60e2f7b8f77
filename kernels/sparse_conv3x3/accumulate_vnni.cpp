// AVX512-VNNI quad microkernel: one vpdpbusd lane sums the 4 channels of a
// quad at one tap position for one pixel (u8 activations x s8 weights, exact
// int32). 16 pixels x 4 channels = 64 MACs per instruction.
#include <immintrin.h>

#include "kernels/sparse_conv3x3/microkernels.hpp"

namespace sparq::kernels::sparse3x3 {
namespace {

// Every loop over the register block is fully unrolled (forced: otherwise
// GCC 12 keeps the accumulator array in memory for OB = 4).

// acc += dot4(u8 x, s8 w) per 32-bit lane, written in place: with the
// intrinsic GCC 12 copies the accumulator around the (destructive)
// instruction when many accumulators are live.
inline void dpbusd(__m512i& acc, __m512i x, __m512i w) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w));
}

template <int OB, int PV>
void accumulate(const uint8_t* tile_input, const int32_t* entries, const int32_t* entries_end,
                void* acc_raw) {
  constexpr int kTile = PV * 16;
  auto* acc = static_cast<int32_t*>(acc_raw);
  __m512i a[OB][PV];
#pragma GCC unroll 16
  for (int ob = 0; ob < OB; ++ob) {
#pragma GCC unroll 16
    for (int pv = 0; pv < PV; ++pv) a[ob][pv] = _mm512_load_si512(acc + ob * kTile + pv * 16);
  }
  for (const int32_t* e = entries; e != entries_end; e += 1 + OB) {
    const uint8_t* x = tile_input + e[0];
    __m512i w[OB];
#pragma GCC unroll 16
    for (int ob = 0; ob < OB; ++ob) w[ob] = _mm512_set1_epi32(e[1 + ob]);
#pragma GCC unroll 16
    for (int pv = 0; pv < PV; ++pv) {
      const __m512i v = _mm512_loadu_si512(x + pv * 64);
#pragma GCC unroll 16
      for (int ob = 0; ob < OB; ++ob) dpbusd(a[ob][pv], v, w[ob]);
    }
  }
#pragma GCC unroll 16
  for (int ob = 0; ob < OB; ++ob) {
#pragma GCC unroll 16
    for (int pv = 0; pv < PV; ++pv) _mm512_store_si512(acc + ob * kTile + pv * 16, a[ob][pv]);
  }
}

template <int OB>
AccumulateFn pick(int pixel_vecs) {
  if (pixel_vecs < 1 || pixel_vecs > max_pixel_vecs_avx512(OB)) return nullptr;
  switch (pixel_vecs) {
    case 1:
      return &accumulate<OB, 1>;
    case 2:
      return &accumulate<OB, 2>;
    case 3:
      return &accumulate<OB, 3>;
    case 4:
      return &accumulate<OB, 4>;
    case 5:
      return &accumulate<OB, 5>;
    case 6:
      return &accumulate<OB, 6>;
    case 7:
      return &accumulate<OB, (OB <= 2 ? 7 : 6)>;
    case 8:
      return &accumulate<OB, (OB <= 2 ? 8 : 6)>;
    default:
      return nullptr;
  }
}

}  // namespace

AccumulateFn accumulate_quad_vnni(int out_block, int pixel_vecs) {
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
