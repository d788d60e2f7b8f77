// The quantized fully connected layer's dot products on AVX-512, shared by
// the VNNI and the plain AVX-512 kernels (include only from files compiled
// with AVX-512 BW): four weight rows share each 64-byte load of the input.
// Whole 64-byte steps run without masks; only a row's last, partial step is
// masked (masking every step, which GCC cannot fold into the multiply, cost
// a third of the time of a 512 -> 1000 layer). The four row sums leave
// through one transposing add tree instead of four horizontal reductions.
//
// Dot supplies the per-step arithmetic: X prepare(x) once per input vector,
// and add(acc, X, w): acc's int32 lanes += sums of u8 x * s8 w products,
// exactly.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/common/lane_masks.hpp"

namespace sparq::kernels {
namespace {

constexpr int64_t kFcRows = 4;

// Per 128-bit lane, with a0..a3 and b0..b3 the int32 elements of a and b:
// [a0 + a2, b0 + b2, a1 + a3, b1 + b3].
inline __m512i add_pairs32(__m512i a, __m512i b) {
  return _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
}

// Per 128-bit lane: [a0 + a2, a1 + a3, b0 + b2, b1 + b3]. Applied to the
// add_pairs32 results of rows (0, 1) and (2, 3), each 128-bit lane holds one
// partial sum of each of the four rows, in row order.
inline __m512i add_pairs64(__m512i a, __m512i b) {
  return _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
}

// The four rows' totals (the sums over each accumulator's 16 lanes), in
// order.
inline __m128i sum_rows(__m512i row0, __m512i row1, __m512i row2, __m512i row3) {
  const __m512i lanes = add_pairs64(add_pairs32(row0, row1), add_pairs32(row2, row3));
  const __m256i halves =
      _mm256_add_epi32(_mm512_castsi512_si256(lanes), _mm512_extracti64x4_epi64(lanes, 1));
  return _mm_add_epi32(_mm256_castsi256_si128(halves), _mm256_extracti128_si256(halves, 1));
}

// dots[r] = sum_i x[i] * w[r * in + i] for r < rows.
template <class Dot>
void dot_rows(const uint8_t* x, const int8_t* w, int64_t in, int64_t rows, int32_t* dots) {
  const int64_t whole = in / 64 * 64;
  const __mmask64 tail = first_lanes(in - whole);
  for (int64_t r = 0; r < rows; r += kFcRows) {
    // A last block of fewer rows repeats its last row (its sums are not
    // stored): the accumulators stay in registers, which indexing them by a
    // run-time row count would not allow.
    const int64_t count = rows - r < kFcRows ? rows - r : kFcRows;
    const int8_t* row[kFcRows];
#pragma GCC unroll 4
    for (int64_t k = 0; k < kFcRows; ++k) row[k] = w + (r + (k < count ? k : count - 1)) * in;
    __m512i acc[kFcRows] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                            _mm512_setzero_si512()};
    for (int64_t i = 0; i < whole; i += 64) {
      const auto xv = Dot::prepare(_mm512_loadu_si512(x + i));
#pragma GCC unroll 4
      for (int64_t k = 0; k < kFcRows; ++k) Dot::add(acc[k], xv, _mm512_loadu_si512(row[k] + i));
    }
    if (whole < in) {
      const auto xv = Dot::prepare(_mm512_maskz_loadu_epi8(tail, x + whole));
#pragma GCC unroll 4
      for (int64_t k = 0; k < kFcRows; ++k)
        Dot::add(acc[k], xv, _mm512_maskz_loadu_epi8(tail, row[k] + whole));
    }
    _mm_mask_storeu_epi32(dots + r, static_cast<__mmask8>(first_lanes16(count)),
                          sum_rows(acc[0], acc[1], acc[2], acc[3]));
  }
}

}  // namespace
}  // namespace sparq::kernels
