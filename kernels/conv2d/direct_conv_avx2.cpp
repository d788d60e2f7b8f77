// AVX2 tiles. AVX2 has no u8 x s8 dot product that is exact (vpmaddubsw
// saturates at 16 bits), so a quad's four products are formed as two exact
// 16-bit pair sums: even bytes and odd bytes widened to 16 bits, vpmaddwd.
// A multiply and an add stay two roundings (the reference backend's
// arithmetic): GCC would otherwise fuse them into FMA under this file's -mfma.
#pragma GCC optimize("fp-contract=off")
#include "kernels/conv2d/direct_conv_float_impl.hpp"
#include "kernels/conv2d/direct_conv_quant_epilogue.hpp"

namespace sparq::kernels {
namespace {

constexpr int64_t kLanes = 8;
constexpr int64_t kTile = kLanes;  // one ymm of pixels per row: 16 registers in all

// One tile's 8 rows of one vector of pixels from `first_pixel`.
[[gnu::always_inline]] inline void quant_vector(const QuantTileArgs& a, int64_t first_pixel,
                                                __m256i (&acc)[kOutBlock]) {
#pragma GCC unroll 32
  for (auto& v : acc) v = _mm256_setzero_si256();
  const __m256i low_bytes = _mm256_set1_epi16(0x00FF);
  for (int64_t s = 0; s < a.steps; ++s) {
    const __m256i x = _mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(a.input + (a.step_offsets[s] + first_pixel) * 4));
    const __m256i x_even = _mm256_and_si256(x, low_bytes);
    const __m256i x_odd = _mm256_srli_epi16(x, 8);
    const int32_t* w = reinterpret_cast<const int32_t*>(a.weights + s * kOutBlock * 4);
#pragma GCC unroll 32
    for (int64_t r = 0; r < kOutBlock; ++r) {
      const __m256i wq = _mm256_set1_epi32(w[r]);
      const __m256i w_even = _mm256_srai_epi16(_mm256_slli_epi16(wq, 8), 8);
      const __m256i w_odd = _mm256_srai_epi16(wq, 8);
      acc[r] = _mm256_add_epi32(acc[r], _mm256_add_epi32(_mm256_madd_epi16(x_even, w_even),
                                                         _mm256_madd_epi16(x_odd, w_odd)));
    }
  }
}

// A span of pixels, tile after tile, the epilogue built once for the span
// (as the AVX-512 tiles do) and each tile's rows stored from its registers.
void quant_tile(const QuantTileArgs& a) {
  TileEpilogue<ArchAvx2> epilogue(a);
  for (int64_t done = 0; done < a.valid; done += kTile) {
    __m256i acc[kOutBlock];
    quant_vector(a, a.first_pixel + done, acc);
#pragma GCC unroll 32
    for (int64_t r = 0; r < kOutBlock; ++r) epilogue.store(acc[r], r, done);
  }
  epilogue.finish();
}

}  // namespace

DirectConvKernels direct_conv_kernels_avx2() {
  DirectConvKernels k{Isa::kAvx2, kTile, &quant_tile};
  k.takes_spans = true;
  return k;
}
FloatConvKernels float_conv_kernels_avx2() {
  return {Isa::kAvx2, FloatTile<ArchAvx2>::kTile, &FloatTile<ArchAvx2>::run};
}

}  // namespace sparq::kernels
