// A 16 x 16 transpose of 32-bit elements in AVX-512 registers, written once
// for the kernels that turn 16 vectors of one kind of lane into 16 of the
// other (output channels into pixels, columns of 16 planes into planes).
// Include only from files compiled with AVX-512 flags.
#pragma once

#include <immintrin.h>

namespace sparq::kernels {

// Lane j of rows[i] becomes lane i of rows[j]. Pairs of rows, then pairs of
// pairs, then the 128-bit quarters. Always inlined: its callers hold the
// rows in registers, and a call spills them all (GCC stops inlining it once
// a file's other kernels use up its inlining budget).
[[gnu::always_inline]] inline void transpose_16x16(__m512i rows[16]) {
  __m512i t[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(rows[i], rows[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(rows[i], rows[i + 1]);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 16; i += 4) {
    rows[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    rows[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    rows[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    rows[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // Quarter q of rows[4k + m] now holds column 4q + m of rows 4k..4k+3; the
  // last two steps gather each column's four quarters from the four k.
#pragma GCC unroll 16
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_i32x4(rows[i], rows[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_i32x4(rows[i], rows[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_i32x4(rows[i + 8], rows[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_i32x4(rows[i + 8], rows[i + 12], 0xdd);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 4; ++i) {
    rows[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
    rows[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
    rows[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88);
    rows[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xdd);
  }
}

}  // namespace sparq::kernels
