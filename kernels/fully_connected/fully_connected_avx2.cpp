// AVX2: exact u8 x s8 dots through even/odd bytes widened to 16 bits and
// vpmaddwd (vpmaddubsw would saturate).
// A multiply and an add stay two roundings (the reference backend's
// arithmetic): GCC would otherwise fuse them into FMA under this file's -mfma.
#pragma GCC optimize("fp-contract=off")
#include "kernels/fully_connected/fully_connected_dequantize_impl.hpp"
#include "kernels/fully_connected/fully_connected_float_impl.hpp"

namespace sparq::kernels {
namespace {

int32_t horizontal_sum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

void dot_u8s8(const uint8_t* x, const int8_t* w, int64_t in, int64_t rows, int32_t* dots) {
  const __m256i low_bytes = _mm256_set1_epi16(0x00FF);
  for (int64_t r = 0; r < rows; ++r) {
    const int8_t* row = w + r * in;
    __m256i acc = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 32 <= in; i += 32) {
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + i));
      const __m256i x_even = _mm256_and_si256(xv, low_bytes);
      const __m256i x_odd = _mm256_srli_epi16(xv, 8);
      const __m256i w_even = _mm256_srai_epi16(_mm256_slli_epi16(wv, 8), 8);
      const __m256i w_odd = _mm256_srai_epi16(wv, 8);
      acc = _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(x_even, w_even),
                                                   _mm256_madd_epi16(x_odd, w_odd)));
    }
    int32_t sum = horizontal_sum(acc);
    for (; i < in; ++i) sum += x[i] * row[i];
    dots[r] = sum;
  }
}

}  // namespace

FullyConnectedKernels fully_connected_kernels_avx2() {
  return {Isa::kAvx2, &dot_u8s8, &FcFloat<ArchAvx2>::block, &FcDequantize<ArchAvx2>::rows};
}

}  // namespace sparq::kernels
