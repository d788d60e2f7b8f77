// AVX-512 without VNNI: the AVX2 even/odd scheme on 512-bit vectors, with a
// masked load for the tail.
// A multiply and an add stay two roundings (the reference backend's
// arithmetic): GCC would otherwise fuse them into FMA under this file's -mfma.
#pragma GCC optimize("fp-contract=off")
#include "kernels/common/lane_masks.hpp"
#include "kernels/fully_connected/fully_connected_dequantize_impl.hpp"
#include "kernels/fully_connected/fully_connected_float_impl.hpp"

namespace sparq::kernels {
namespace {

void dot_u8s8(const uint8_t* x, const int8_t* w, int64_t in, int64_t rows, int32_t* dots) {
  const __m512i low_bytes = _mm512_set1_epi16(0x00FF);
  for (int64_t r = 0; r < rows; ++r) {
    const int8_t* row = w + r * in;
    __m512i acc = _mm512_setzero_si512();
    for (int64_t i = 0; i < in; i += 64) {
      const int64_t left = in - i;
      const __mmask64 mask = first_lanes(left);
      const __m512i xv = _mm512_maskz_loadu_epi8(mask, x + i);
      const __m512i wv = _mm512_maskz_loadu_epi8(mask, row + i);
      const __m512i x_even = _mm512_and_si512(xv, low_bytes);
      const __m512i x_odd = _mm512_srli_epi16(xv, 8);
      const __m512i w_even = _mm512_srai_epi16(_mm512_slli_epi16(wv, 8), 8);
      const __m512i w_odd = _mm512_srai_epi16(wv, 8);
      acc = _mm512_add_epi32(acc, _mm512_add_epi32(_mm512_madd_epi16(x_even, w_even),
                                                   _mm512_madd_epi16(x_odd, w_odd)));
    }
    dots[r] = _mm512_reduce_add_epi32(acc);
  }
}

}  // namespace

FullyConnectedKernels fully_connected_kernels_avx512() {
  return {Isa::kAvx512, &dot_u8s8, &FcFloat<ArchAvx512>::block, &FcDequantize<ArchAvx512>::rows};
}

}  // namespace sparq::kernels
