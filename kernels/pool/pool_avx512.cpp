// A multiply and an add stay two roundings (the reference backend's
// arithmetic): GCC would otherwise fuse them into FMA under this file's -mfma.
#pragma GCC optimize("fp-contract=off")
#include "kernels/common/simd_arch.hpp"
#include "kernels/pool/pool_impl.hpp"

namespace sparq::kernels {
namespace {

// The 2x2 stride-2 unpadded window (VGG / small-CNN pooling) without tap
// planes: per 16 outputs, two 32-float row loads split into even and odd
// columns by one permute each; the taps are then visited in the reference's
// (ky, kx) order: row 0 even, row 0 odd, row 1 even, row 1 odd.
bool is_plain_2x2(const PoolGeometry& g) {
  return g.kernel_h == 2 && g.kernel_w == 2 && g.stride_h == 2 && g.stride_w == 2 && g.pad_h == 0 &&
         g.pad_w == 0;
}

struct EvenOdd {
  __m512 even, odd;
};

// Columns 2*ox0 .. 2*ox0 + 2n - 1 of one row (n <= 16 outputs).
EvenOdd load_pairs(const float* row, int64_t n) {
  const int64_t floats = 2 * n;
  const __mmask16 lo_mask =
      floats >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << floats) - 1);
  const __mmask16 hi_mask =
      floats <= 16 ? __mmask16(0) : static_cast<__mmask16>((1u << (floats - 16)) - 1);
  const __m512 lo = _mm512_maskz_loadu_ps(lo_mask, row);
  const __m512 hi = _mm512_maskz_loadu_ps(hi_mask, row + 16);
  const __m512i even_idx =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd_idx =
      _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  return {_mm512_permutex2var_ps(lo, even_idx, hi), _mm512_permutex2var_ps(lo, odd_idx, hi)};
}

// The window rule (MaxRule / AverageRule) over the four taps in order.
template <class Rule>
void plain_2x2(const float* in, float* out, const PoolGeometry& g) {
  using Batch = xsimd::batch<float, ArchAvx512>;
  for (int64_t oy = 0; oy < g.out_h; ++oy) {
    const float* row0 = in + 2 * oy * g.in_w;
    const float* row1 = row0 + g.in_w;
    float* dst = out + oy * g.out_w;
    for (int64_t ox = 0; ox < g.out_w; ox += 16) {
      const int64_t n = std::min<int64_t>(16, g.out_w - ox);
      const EvenOdd a = load_pairs(row0 + 2 * ox, n);
      const EvenOdd b = load_pairs(row1 + 2 * ox, n);
      Batch y(Rule::kStart);
      for (const __m512 tap : {a.even, a.odd, b.even, b.odd}) y = Rule::step(y, Batch(tap));
      _mm512_mask_storeu_ps(dst + ox, static_cast<__mmask16>((1u << n) - 1), Rule::finish(y, 4.0f));
    }
  }
}

void max_plane(const float* in, float* out, const PoolGeometry& g, float* scratch) {
  if (is_plain_2x2(g)) return plain_2x2<MaxRule>(in, out, g);
  Pool<ArchAvx512>::max_plane(in, out, g, scratch);
}

void avg_plane(const float* in, float* out, const PoolGeometry& g, float* scratch) {
  if (is_plain_2x2(g)) return plain_2x2<AverageRule>(in, out, g);
  Pool<ArchAvx512>::avg_plane(in, out, g, scratch);
}

}  // namespace

PoolKernels pool_kernels_avx512() {
  return {Isa::kAvx512, &max_plane, &avg_plane};
}

}  // namespace sparq::kernels
