// A multiply and an add stay two roundings (the reference backend's
// arithmetic): GCC would otherwise fuse them into FMA under this file's -mfma.
#pragma GCC optimize("fp-contract=off")
#include <cstdint>
#include <limits>

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

// The 3x3 stride-2 window with padding 0 or 1 (the ResNet stem's max pool)
// without tap planes. Max is "the first NaN in (ky, kx) order, else the
// first of the largest values", which is associative: each input row's three
// column taps are reduced first (kx order), then the window's rows (ky
// order), and a row's reduction is kept for the next output row, whose window
// starts where this one ends. Taps outside the input are -inf: never chosen.
bool is_strided_3x3(const PoolGeometry& g) {
  return g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 2 && g.stride_w == 2 && g.pad_h <= 1 &&
         g.pad_w <= 1;
}

// Columns [start, start + 32) of a row of `width` floats; -inf outside it.
EvenOdd load_columns(const float* row, int64_t start, int64_t width) {
  const int64_t lo = std::max<int64_t>(0, -start);
  const int64_t hi = std::min<int64_t>(32, width - start);
  const uint32_t bits =
      hi > lo ? static_cast<uint32_t>(((uint64_t{1} << (hi - lo)) - 1) << lo) : 0u;
  const __m512 fill = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  // Address arithmetic as integers: `start` may be -1 (that lane is masked
  // off, and a masked-off lane is never read).
  const auto* at = reinterpret_cast<const float*>(reinterpret_cast<uintptr_t>(row) +
                                                  static_cast<uintptr_t>(start * 4));
  const __m512 a = _mm512_mask_loadu_ps(fill, static_cast<__mmask16>(bits & 0xFFFF), at);
  const __m512 b = _mm512_mask_loadu_ps(fill, static_cast<__mmask16>(bits >> 16), at + 16);
  const __m512i even_idx =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd_idx =
      _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  return {_mm512_permutex2var_ps(a, even_idx, b), _mm512_permutex2var_ps(a, odd_idx, b)};
}

void strided_3x3_max(const float* in, float* out, const PoolGeometry& g, float* scratch) {
  using Batch = xsimd::batch<float, ArchAvx512>;
  // The reduced last row of the previous output row's window (its row 2).
  float* carried = scratch;
  for (int64_t oy = 0; oy < g.out_h; ++oy) {
    const int64_t first_row = 2 * oy - g.pad_h;
    float* dst = out + oy * g.out_w;
    for (int64_t ox = 0; ox < g.out_w; ox += 16) {
      const auto lanes = static_cast<__mmask16>((1u << std::min<int64_t>(16, g.out_w - ox)) - 1);
      const int64_t first_column = 2 * ox - g.pad_w;
      Batch best(MaxRule::kStart);
      for (int64_t ky = 0; ky < 3; ++ky) {
        const int64_t iy = first_row + ky;
        if (iy < 0 || iy >= g.in_h) continue;  // padding: never chosen
        Batch row_best;
        if (ky == 0 && oy > 0) {
          row_best = _mm512_maskz_loadu_ps(lanes, carried + ox);
        } else {
          const float* row = in + iy * g.in_w;
          const EvenOdd left = load_columns(row, first_column, g.in_w);
          const EvenOdd right = load_columns(row, first_column + 2, g.in_w);
          row_best =
              MaxRule::step(MaxRule::step(Batch(left.even), Batch(left.odd)), Batch(right.even));
          if (ky == 2) _mm512_mask_storeu_ps(carried + ox, lanes, row_best);
        }
        best = MaxRule::step(best, row_best);
      }
      _mm512_mask_storeu_ps(dst + ox, lanes, best);
    }
  }
}

void max_plane(const float* in, float* out, const PoolGeometry& g, float* scratch) {
  if (is_plain_2x2(g)) return plain_2x2<MaxRule>(in, out, g);
  if (is_strided_3x3(g)) return strided_3x3_max(in, out, g, scratch);
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
