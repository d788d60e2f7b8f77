// A multiply and an add stay two roundings (the reference backend's
// arithmetic): GCC would otherwise fuse them into FMA under this file's -mfma.
#pragma GCC optimize("fp-contract=off")
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "kernels/common/lane_masks.hpp"
#include "kernels/common/simd_arch.hpp"
#include "kernels/common/transpose_avx512.hpp"
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

// The 32 floats lo:hi split into their even and odd elements.
EvenOdd split_even_odd(__m512 lo, __m512 hi) {
  const __m512i even_idx =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd_idx =
      _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  return {_mm512_permutex2var_ps(lo, even_idx, hi), _mm512_permutex2var_ps(lo, odd_idx, hi)};
}

// The masks of the two 16-float halves of a row's columns 2*ox0 ..
// 2*ox0 + 2n - 1 (n <= 16 outputs).
struct HalfMasks {
  __mmask16 lo, hi;
};
HalfMasks pair_masks(int64_t n) {
  return {static_cast<__mmask16>(first_lanes16(std::min<int64_t>(2 * n, 16))),
          static_cast<__mmask16>(first_lanes(2 * n - 16))};
}

// Those columns of one row, split into even and odd.
EvenOdd load_pairs(const float* row, int64_t n) {
  const HalfMasks m = pair_masks(n);
  return split_even_odd(_mm512_maskz_loadu_ps(m.lo, row), _mm512_maskz_loadu_ps(m.hi, row + 16));
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
      _mm512_mask_storeu_ps(dst + ox, static_cast<__mmask16>(first_lanes16(n)),
                            Rule::finish(y, 4.0f));
    }
  }
}

// The 2x2 stride-2 window after a ReLU (no NaN, no -0: the maximum in any
// order): the two rows' maximum first, on 32 input columns, then that of
// its even and odd columns; one permute pair per 16 outputs instead of two.
void plain_2x2_max_rows_first(const float* in, float* out, const PoolGeometry& g) {
  // Locals: the output stores could alias `g` as far as the compiler knows.
  const int64_t in_w = g.in_w, out_w = g.out_w, out_h = g.out_h;
  for (int64_t oy = 0; oy < out_h; ++oy) {
    const float* row0 = in + 2 * oy * in_w;
    const float* row1 = row0 + in_w;
    float* dst = out + oy * out_w;
    for (int64_t ox = 0; ox < out_w; ox += 16) {
      const int64_t n = std::min<int64_t>(16, out_w - ox);
      const HalfMasks m = pair_masks(n);
      const float* at0 = row0 + 2 * ox;
      const float* at1 = row1 + 2 * ox;
      const __m512 lo =
          _mm512_max_ps(_mm512_maskz_loadu_ps(m.lo, at0), _mm512_maskz_loadu_ps(m.lo, at1));
      const __m512 hi = _mm512_max_ps(_mm512_maskz_loadu_ps(m.hi, at0 + 16),
                                      _mm512_maskz_loadu_ps(m.hi, at1 + 16));
      const auto [even, odd] = split_even_odd(lo, hi);
      _mm512_mask_storeu_ps(dst + ox, static_cast<__mmask16>(first_lanes16(n)),
                            _mm512_max_ps(even, odd));
    }
  }
}

// The 3x3 stride-2 window with padding 0 or 1 (the ResNet stem's max pool)
// without tap planes. Max is "the first NaN in (ky, kx) order, else the
// first of the largest values", which is associative: each input row's three
// column taps are reduced first (kx order), then the window's rows (ky
// order), and a row's reduction is kept (in a register) for the next output
// row, whose window starts where this one ends. Blocks of 16 outputs are
// the outer loop, so their column masks hold for every row. Taps outside the
// input are -inf: never chosen.
bool is_strided_3x3(const PoolGeometry& g) {
  return g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 2 && g.stride_w == 2 && g.pad_h <= 1 &&
         g.pad_w <= 1;
}

// The floats [start, start + 32) of a row of `width` as the masks of the
// two 16-float halves.
struct ColumnMasks {
  __mmask16 lo, hi;
};
ColumnMasks inside_columns(int64_t start, int64_t width) {
  const uint64_t bits = inside_lanes(start, width, 32);
  return {static_cast<__mmask16>(bits & 0xFFFF), static_cast<__mmask16>(bits >> 16)};
}

// The floats at `at` (masked by `m`, -inf elsewhere) split into even and odd
// columns. `at` may point one float before the row: that lane is masked off,
// and a masked-off lane is never read.
EvenOdd load_columns(const float* at, ColumnMasks m) {
  const __m512 fill = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __m512 a = _mm512_mask_loadu_ps(fill, m.lo, at);
  const __m512 b = _mm512_mask_loadu_ps(fill, m.hi, at + 16);
  return split_even_odd(a, b);
}

// Step: the window rule on two batches (MaxRule::step, or a plain maximum
// where the input holds no NaN and no -0).
template <class Step>
void strided_3x3_max(const float* in, float* out, const PoolGeometry& g, const Step& step) {
  using Batch = xsimd::batch<float, ArchAvx512>;
  for (int64_t ox = 0; ox < g.out_w; ox += 16) {
    const auto lanes = static_cast<__mmask16>(first_lanes16(std::min<int64_t>(16, g.out_w - ox)));
    const int64_t first_column = 2 * ox - g.pad_w;
    const ColumnMasks left = inside_columns(first_column, g.in_w);
    const ColumnMasks right = inside_columns(first_column + 2, g.in_w);
    // As integers: the first column may be -1.
    const auto column_at =
        reinterpret_cast<uintptr_t>(in) + static_cast<uintptr_t>(first_column * 4);
    Batch carried;  // the reduced row 2 of the previous output row's window
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      const int64_t first_row = 2 * oy - g.pad_h;
      Batch best(MaxRule::kStart);
      for (int64_t ky = 0; ky < 3; ++ky) {
        const int64_t iy = first_row + ky;
        if (iy < 0 || iy >= g.in_h) continue;  // padding: never chosen
        Batch row_best;
        if (ky == 0 && oy > 0) {
          row_best = carried;
        } else {
          const auto* at =
              reinterpret_cast<const float*>(column_at + static_cast<uintptr_t>(iy * g.in_w * 4));
          const EvenOdd l = load_columns(at, left);
          const EvenOdd r = load_columns(at + 2, right);
          row_best = step(step(Batch(l.even), Batch(l.odd)), Batch(r.even));
          if (ky == 2) carried = row_best;
        }
        best = step(best, row_best);
      }
      _mm512_mask_storeu_ps(out + oy * g.out_w + ox, lanes, best);
    }
  }
}

// The same window after a ReLU, with column padding 1 (the ResNet stem's
// pool): as the input holds no NaN and no -0, the window's maximum may be
// taken in any order, so the rows are reduced first, on whole aligned
// vectors of 32 input columns, and the three columns of each window are then
// the even lanes, the odd lanes, and the odd lanes moved up one (its left
// column, the previous block's last odd lane). Three shuffles per 16
// outputs instead of a permute per row and column tap. Taps outside the
// input load as +0, which never exceeds a ReLU's output and equals it only
// where that output is +0.
bool is_strided_3x3_pad1(const PoolGeometry& g) {
  return is_strided_3x3(g) && g.pad_w == 1;
}

// Each block prefetches its columns kPrefetchRows input rows ahead: a
// plane streamed from L3 (the standalone pool of a 64 x 112 x 112 map,
// 3.2 MB) took 59-64 us instead of 74-77 on a Zen 5 core.
constexpr int64_t kPrefetchRows = 4;

void strided_3x3_max_rows_first(const float* in, float* out, const PoolGeometry& g) {
  // Locals: the output stores could alias `g` as far as the compiler knows.
  const int64_t in_w = g.in_w, in_h = g.in_h, out_w = g.out_w, out_h = g.out_h;
  for (int64_t oy = 0; oy < out_h; ++oy) {
    const float* rows[3];
    int row_count = 0;
    for (int64_t iy = 2 * oy - g.pad_h; iy <= 2 * oy - g.pad_h + 2; ++iy) {
      if (iy >= 0 && iy < in_h) rows[row_count++] = in + iy * in_w;
    }
    // Output ox reads columns 2 ox - 1, 2 ox and 2 ox + 1: a block of 16
    // outputs reads its 32 columns from 2 ox and the column before them.
    __m512 left_odd = _mm512_setzero_ps();  // column -1: padding
    for (int64_t ox = 0; ox < out_w; ox += 16) {
      const int64_t column = 2 * ox;
      const uint64_t inside = inside_lanes(column, in_w, 32);
      const auto lo_mask = static_cast<__mmask16>(inside),
                 hi_mask = static_cast<__mmask16>(inside >> 16);
      // The block's columns kPrefetchRows rows below its last row, as an
      // address only (a prefetch never faults, past the plane neither).
      const uintptr_t ahead = reinterpret_cast<uintptr_t>(rows[row_count - 1] + column) +
                              static_cast<uintptr_t>(kPrefetchRows * in_w * 4);
      _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(ahead + 64), _MM_HINT_T0);
      __m512 lo = _mm512_maskz_loadu_ps(lo_mask, rows[0] + column);
      __m512 hi = _mm512_maskz_loadu_ps(hi_mask, rows[0] + column + 16);
      for (int r = 1; r < row_count; ++r) {
        lo = _mm512_max_ps(lo, _mm512_maskz_loadu_ps(lo_mask, rows[r] + column));
        hi = _mm512_max_ps(hi, _mm512_maskz_loadu_ps(hi_mask, rows[r] + column + 16));
      }
      const auto [even, odd] = split_even_odd(lo, hi);
      const __m512 left = _mm512_castsi512_ps(
          _mm512_alignr_epi32(_mm512_castps_si512(odd), _mm512_castps_si512(left_odd), 15));
      const auto lanes = static_cast<__mmask16>(first_lanes16(std::min<int64_t>(16, out_w - ox)));
      _mm512_mask_storeu_ps(out + oy * out_w + ox, lanes,
                            _mm512_max_ps(_mm512_max_ps(left, even), odd));
      left_odd = odd;
    }
  }
}

// Max pooling of bytes over windows 2 or 3 columns wide at column stride 2
// (VGG's 2x2 and ResNet's 3x3 stride-2 pools), any rows, 32 outputs per
// vector. A row is loaded as 16-bit words from the window's first column:
// word j holds output ox + j's window columns 0 and 1 (low and high byte); a
// 3-wide window loads again two columns later for column 2 (low byte). s8
// bytes are compared as u8 after flipping their sign bit (which preserves
// order); bytes outside the row load as 0, the smallest, so padding never
// wins.
bool is_column_stride2(const PoolGeometry& g) {
  return g.stride_w == 2 && (g.kernel_w == 2 || g.kernel_w == 3) && g.pad_w <= 1;
}

// 64 bytes from `at` under `inside`, sign-flipped by `flip`: a byte outside
// the row loads as `flip` and flips to 0. `at` may point one byte before the
// row (that lane is masked off, and a masked-off byte is never read).
__m512i load_row_bytes(const uint8_t* at, __mmask64 inside, __m512i flip) {
  return _mm512_xor_si512(_mm512_mask_loadu_epi8(flip, inside, at), flip);
}

void column_stride2_max_bytes(const uint8_t* in, uint8_t* out, const PoolGeometry& g,
                              uint8_t flip) {
  const __m512i flip_bytes = _mm512_set1_epi8(static_cast<char>(flip));
  const __m512i flip_words = _mm512_set1_epi16(flip);
  const __m512i low_byte = _mm512_set1_epi16(0x00FF);
  const bool three_wide = g.kernel_w == 3;
  // Blocks of 32 outputs outermost: their load masks hold for every row.
  for (int64_t ox = 0; ox < g.out_w; ox += 32) {
    const int64_t n = std::min<int64_t>(32, g.out_w - ox);
    const auto lanes = static_cast<__mmask32>(first_lanes(n));
    const int64_t first_column = 2 * ox - g.pad_w;
    const __mmask64 left_inside = inside_lanes(first_column, g.in_w, 64);
    const __mmask64 right_inside = inside_lanes(first_column + 2, g.in_w, 64);
    // As integers: the first column may be -1.
    const auto left_at = reinterpret_cast<uintptr_t>(in) + static_cast<uintptr_t>(first_column);
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      const int64_t first_row = oy * g.stride_h - g.pad_h;
      const int64_t row_end = std::min(first_row + g.kernel_h, g.in_h);
      __m512i best = _mm512_setzero_si512();
      for (int64_t iy = std::max<int64_t>(first_row, 0); iy < row_end; ++iy) {
        const auto* at =
            reinterpret_cast<const uint8_t*>(left_at + static_cast<uintptr_t>(iy * g.in_w));
        const __m512i pairs = load_row_bytes(at, left_inside, flip_bytes);
        __m512i taps =
            _mm512_max_epu16(_mm512_and_si512(pairs, low_byte), _mm512_srli_epi16(pairs, 8));
        if (three_wide) {
          const __m512i next = load_row_bytes(at + 2, right_inside, flip_bytes);
          taps = _mm512_max_epu16(taps, _mm512_and_si512(next, low_byte));
        }
        best = _mm512_max_epu16(best, taps);
      }
      _mm512_mask_cvtepi16_storeu_epi8(out + oy * g.out_w + ox, lanes,
                                       _mm512_xor_si512(best, flip_words));
    }
  }
}

void max_plane_u8(const uint8_t* in, uint8_t* out, const PoolGeometry& g, void* scratch) {
  if (is_column_stride2(g)) return column_stride2_max_bytes(in, out, g, 0x00);
  Pool<ArchAvx512>::max_plane_u8(in, out, g, scratch);
}

void max_plane_s8(const int8_t* in, int8_t* out, const PoolGeometry& g, void* scratch) {
  if (is_column_stride2(g)) {
    return column_stride2_max_bytes(reinterpret_cast<const uint8_t*>(in),
                                    reinterpret_cast<uint8_t*>(out), g, 0x80);
  }
  Pool<ArchAvx512>::max_plane_s8(in, out, g, scratch);
}

void max_plane(const float* in, float* out, const PoolGeometry& g, float* scratch) {
  if (is_plain_2x2(g)) return plain_2x2<MaxRule>(in, out, g);
  if (is_strided_3x3(g)) {
    return strided_3x3_max(in, out, g, [](auto best, auto v) { return MaxRule::step(best, v); });
  }
  Pool<ArchAvx512>::max_plane(in, out, g, scratch);
}

// Without NaN and -0 (a ReLU's output) the first-NaN and first-of-equals
// rules cannot apply: every maximum is maxps.
void max_plane_relu(const float* in, float* out, const PoolGeometry& g, float* scratch) {
  if (is_plain_2x2(g)) return plain_2x2_max_rows_first(in, out, g);
  if (is_strided_3x3_pad1(g)) return strided_3x3_max_rows_first(in, out, g);
  if (is_strided_3x3(g)) {
    using Batch = xsimd::batch<float, ArchAvx512>;
    return strided_3x3_max(in, out, g,
                           [](Batch best, Batch v) -> Batch { return _mm512_max_ps(v, best); });
  }
  max_plane(in, out, g, scratch);
}

void avg_plane(const float* in, float* out, const PoolGeometry& g, float* scratch) {
  if (is_plain_2x2(g)) return plain_2x2<AverageRule>(in, out, g);
  Pool<ArchAvx512>::avg_plane(in, out, g, scratch);
}

// Global average pooling, 16 planes at a time, one per lane, each plane
// still summed strictly in order (the reference's rounding): 16 columns of
// each of the 16 planes load as 16 rows, which transpose_16x16 turns into
// one vector per column holding that column of every plane; the columns are
// then added in order. Columns past the plane load as zeros and are not
// added. A last chunk of a column or two (7x7 planes: 49 = 3 x 16 + 1) is
// gathered instead, one gather per column rather than a whole transpose (a
// gather costs about a third of a transpose on a Zen 5 core; gathering
// every column ran 6x slower). The last planes take the scalar kernel.
// Four blocks at a time, their adds interleaved, ran 10 % slower: the
// transposes, not the chain of adds, bound the loop.
void global_avg(const float* in, size_t planes, size_t plane_size, float* out) {
  constexpr size_t kLanes = 16;
  constexpr size_t kGatheredColumns = 2;
  // The gather's 32-bit offsets reach the 16th plane: plane_size < 2^27.
  const bool gather = plane_size < (size_t{1} << 27);
  const __m512i plane_starts =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(gather ? static_cast<int>(plane_size) : 0));
  const __m512 divisor = _mm512_set1_ps(static_cast<float>(plane_size));
  size_t p = 0;
  for (; p + kLanes <= planes; p += kLanes) {
    const float* block = in + p * plane_size;
    __m512 sum = _mm512_setzero_ps();
    for (size_t first = 0; first < plane_size; first += kLanes) {
      const size_t n = std::min(kLanes, plane_size - first);
      if (n <= kGatheredColumns && gather) {
        for (size_t j = first; j < plane_size; ++j) {
          sum = _mm512_add_ps(sum, _mm512_i32gather_ps(plane_starts, block + j, 4));
        }
        break;
      }
      const auto inside = static_cast<__mmask16>(first_lanes16(static_cast<int64_t>(n)));
      __m512i columns[kLanes];
#pragma GCC unroll 16
      for (size_t k = 0; k < kLanes; ++k) {
        columns[k] = _mm512_maskz_loadu_epi32(inside, block + k * plane_size + first);
      }
      transpose_16x16(columns);
      if (n == kLanes) {
#pragma GCC unroll 16
        for (const __m512i column : columns) sum = _mm512_add_ps(sum, _mm512_castsi512_ps(column));
      } else {
        for (size_t j = 0; j < n; ++j) sum = _mm512_add_ps(sum, _mm512_castsi512_ps(columns[j]));
      }
    }
    _mm512_storeu_ps(out + p, _mm512_div_ps(sum, divisor));
  }
  if (p < planes) global_avg_pool_planes(in + p * plane_size, planes - p, plane_size, out + p);
}

}  // namespace

PoolKernels pool_kernels_avx512() {
  return {Isa::kAvx512,  &max_plane,      &avg_plane, &max_plane_u8,
          &max_plane_s8, &max_plane_relu, &global_avg};
}

}  // namespace sparq::kernels
