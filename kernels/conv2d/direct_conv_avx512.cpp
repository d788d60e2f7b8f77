// AVX-512 (without VNNI) tiles: the exact even/odd 16-bit pair products of
// the AVX2 tile on 512-bit vectors, two vectors of pixels per row.
// A multiply and an add stay two roundings (the reference backend's
// arithmetic): GCC would otherwise fuse them into FMA under this file's -mfma.
#pragma GCC optimize("fp-contract=off")
#include <algorithm>

#include "kernels/conv2d/direct_conv_float_impl.hpp"
#include "kernels/conv2d/direct_conv_quant_epilogue.hpp"
#include "kernels/conv2d/interleave_quads.hpp"

namespace sparq::kernels {
namespace {

constexpr int64_t kLanes = 16;
constexpr int64_t kVectors = 2;
constexpr int64_t kTile = kLanes * kVectors;

// One tile's kVectors pixel vectors at `first_pixel`, accumulated and stored
// to rows[r][p] for the span's epilogue.
[[gnu::always_inline]] inline void quant_vectors(const QuantTileArgs& a, int64_t first_pixel,
                                                 int32_t (&rows)[kOutBlock][kTile]) {
  __m512i acc[kOutBlock][kVectors];
#pragma GCC unroll 32
  for (auto& row : acc) {
    for (auto& v : row) v = _mm512_setzero_si512();
  }
  const __m512i low_bytes = _mm512_set1_epi16(0x00FF);
  for (int64_t s = 0; s < a.steps; ++s) {
    const uint8_t* x = a.input + (a.step_offsets[s] + first_pixel) * 4;
    __m512i x_even[kVectors], x_odd[kVectors];
#pragma GCC unroll 32
    for (int64_t v = 0; v < kVectors; ++v) {
      const __m512i xv = _mm512_loadu_si512(x + v * 64);
      x_even[v] = _mm512_and_si512(xv, low_bytes);
      x_odd[v] = _mm512_srli_epi16(xv, 8);
    }
    const int32_t* w = reinterpret_cast<const int32_t*>(a.weights + s * kOutBlock * 4);
#pragma GCC unroll 32
    for (int64_t r = 0; r < kOutBlock; ++r) {
      const __m512i wq = _mm512_set1_epi32(w[r]);
      const __m512i w_even = _mm512_srai_epi16(_mm512_slli_epi16(wq, 8), 8);
      const __m512i w_odd = _mm512_srai_epi16(wq, 8);
#pragma GCC unroll 32
      for (int64_t v = 0; v < kVectors; ++v) {
        acc[r][v] =
            _mm512_add_epi32(acc[r][v], _mm512_add_epi32(_mm512_madd_epi16(x_even[v], w_even),
                                                         _mm512_madd_epi16(x_odd[v], w_odd)));
      }
    }
  }
#pragma GCC unroll 32
  for (int64_t r = 0; r < kOutBlock; ++r) {
#pragma GCC unroll 32
    for (int64_t v = 0; v < kVectors; ++v) _mm512_store_si512(&rows[r][v * kLanes], acc[r][v]);
  }
}

// A span of pixels, tile after tile, the epilogue built once for the span
// (as the VNNI tiles do); each tile computes both vectors, the last one's
// discarded lanes reading the packed input's slack.
void quant_tile(const QuantTileArgs& a) {
  TileEpilogue<ArchAvx512> epilogue(a);
  alignas(64) int32_t rows[kOutBlock][kTile];
  const int64_t count = std::min<int64_t>(a.rows, kOutBlock);
  for (int64_t done = 0; done < a.valid; done += kTile) {
    quant_vectors(a, a.first_pixel + done, rows);
    epilogue_rows<kVectors>(epilogue, &rows[0][0], kTile, count, done);
  }
  epilogue.finish();
}

}  // namespace

DirectConvKernels direct_conv_kernels_avx512() {
  DirectConvKernels k{Isa::kAvx512, kTile, &quant_tile};
  k.takes_spans = true;
  k.quad_rows = &interleave_quads_avx512;
  return k;
}
FloatConvKernels float_conv_kernels_avx512() {
  return {Isa::kAvx512, FloatTile<ArchAvx512>::kTile, &FloatTile<ArchAvx512>::run};
}

}  // namespace sparq::kernels
