// AVX-512 without VNNI: exact u8 x s8 dots through even/odd bytes widened
// to 16 bits and vpmaddwd (vpmaddubsw would saturate), four weight rows per
// input vector (fully_connected_rows_avx512.hpp).
// A multiply and an add stay two roundings (the reference backend's
// arithmetic): GCC would otherwise fuse them into FMA under this file's -mfma.
#pragma GCC optimize("fp-contract=off")
#include "kernels/fully_connected/fully_connected_dequantize_impl.hpp"
#include "kernels/fully_connected/fully_connected_float_impl.hpp"
#include "kernels/fully_connected/fully_connected_rows_avx512.hpp"

namespace sparq::kernels {
namespace {

struct WidenedDots {
  // The input's even and odd bytes as 16-bit lanes, zero-extended.
  struct Halves {
    __m512i even, odd;
  };
  static Halves prepare(__m512i x) {
    return {_mm512_and_si512(x, _mm512_set1_epi16(0x00FF)), _mm512_srli_epi16(x, 8)};
  }
  static void add(__m512i& acc, const Halves& x, __m512i w) {
    const __m512i w_even = _mm512_srai_epi16(_mm512_slli_epi16(w, 8), 8);
    const __m512i w_odd = _mm512_srai_epi16(w, 8);
    acc = _mm512_add_epi32(
        acc, _mm512_add_epi32(_mm512_madd_epi16(x.even, w_even), _mm512_madd_epi16(x.odd, w_odd)));
  }
};

}  // namespace

FullyConnectedKernels fully_connected_kernels_avx512() {
  return {Isa::kAvx512, &dot_rows<WidenedDots>, &FcFloat<ArchAvx512>::block,
          &FcDequantize<ArchAvx512>::rows};
}

}  // namespace sparq::kernels
