// The 4 x 64 byte form of byte_quads.hpp's transpose, with the row loads
// that feed it at stride 1 and 2: the channel-quad layouts (the sparse 3x3
// staging, the direct convolution's packed input) made 64 pixels per
// shuffle network. Include only from files compiled with AVX-512 BW/VL.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/common/lane_masks.hpp"

namespace sparq::kernels {
namespace {

#if defined(__AVX512BW__) && defined(__AVX512VL__)
// Pixels i < n (n <= 64) of one channel row, pixel i being byte S * i of
// `from` (S: 1 or 2), in bytes i of a vector (zero past n). Stride 2 loads the
// 2n - 1 bytes it spans and keeps the low byte of each 16-bit word (vpmovwb).
// Masked loads touch no byte past the last pixel.
template <int S>
__m512i load_row_pixels(const uint8_t* from, int n) {
  if constexpr (S == 1) {
    return _mm512_maskz_loadu_epi8(first_lanes(n), from);
  } else {
    const __m512i lo = _mm512_maskz_loadu_epi8(first_lanes(2 * n - 1), from);
    // Rows of up to 32 pixels (a 56-wide input at stride 2) span one load.
    if (n <= 32) return _mm512_zextsi256_si512(_mm512_cvtepi16_epi8(lo));
    const __m512i hi = _mm512_maskz_loadu_epi8(first_lanes(2 * n - 1 - 64), from + 64);
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi16_epi8(lo)),
                              _mm512_cvtepi16_epi8(hi), 1);
  }
}

// The 64 pixels of 4 channel vectors as quads, channel j in byte j, pixels
// 16 k .. 16 k + 15 in quads[k]: transpose_to_quads on each 128-bit lane,
// then the lanes are regrouped so each vector holds 16 consecutive pixels.
inline void quads64(const __m512i channels[4], __m512i quads[4]) {
  const __m512i ab_lo = _mm512_unpacklo_epi8(channels[0], channels[1]);
  const __m512i ab_hi = _mm512_unpackhi_epi8(channels[0], channels[1]);
  const __m512i cd_lo = _mm512_unpacklo_epi8(channels[2], channels[3]);
  const __m512i cd_hi = _mm512_unpackhi_epi8(channels[2], channels[3]);
  // q_k, 128-bit lane L: the quads of pixels 16 L + 4 k .. 16 L + 4 k + 3.
  const __m512i q0 = _mm512_unpacklo_epi16(ab_lo, cd_lo);
  const __m512i q1 = _mm512_unpackhi_epi16(ab_lo, cd_lo);
  const __m512i q2 = _mm512_unpacklo_epi16(ab_hi, cd_hi);
  const __m512i q3 = _mm512_unpackhi_epi16(ab_hi, cd_hi);
  // Lanes 0, 1 (then 2, 3) of q0, q1 and of q2, q3; then lane L of each q_k.
  const __m512i q01_low = _mm512_shuffle_i64x2(q0, q1, 0x44);
  const __m512i q23_low = _mm512_shuffle_i64x2(q2, q3, 0x44);
  const __m512i q01_high = _mm512_shuffle_i64x2(q0, q1, 0xEE);
  const __m512i q23_high = _mm512_shuffle_i64x2(q2, q3, 0xEE);
  quads[0] = _mm512_shuffle_i64x2(q01_low, q23_low, 0x88);
  quads[1] = _mm512_shuffle_i64x2(q01_low, q23_low, 0xDD);
  quads[2] = _mm512_shuffle_i64x2(q01_high, q23_high, 0x88);
  quads[3] = _mm512_shuffle_i64x2(q01_high, q23_high, 0xDD);
}

// dst[i] = quads[i / 16] lane i % 16 for i < n (n <= 32): the first n quads.
inline void store_quads32(const __m512i quads[2], int n, uint32_t* dst) {
  for (int k = 0; k < 2 && 16 * k < n; ++k) {
    const auto mask = static_cast<__mmask16>(first_lanes16(std::min(16, n - 16 * k)));
    _mm512_mask_storeu_epi32(dst + 16 * k, mask, quads[k]);
  }
}

// dst[0, n) = pixels [0, n) (n <= 64) of 4 channel vectors as quads, channel
// j in byte j.
inline void store_quads64(const __m512i channels[4], int n, uint32_t* dst) {
  __m512i quads[4];
  quads64(channels, quads);
  store_quads32(quads, std::min(n, 32), dst);
  if (n > 32) store_quads32(quads + 2, n - 32, dst + 32);
}

// Two rows of n <= 32 pixels in one transpose: row 0 in bytes [0, n) of the
// channel vectors, row 1 in bytes [32, 32 + n); dst[0, 2 n) = row 0's quads
// then row 1's.
inline void store_quad_row_pair(const __m512i channels[4], int n, uint32_t* dst) {
  __m512i quads[4];
  quads64(channels, quads);
  store_quads32(quads, n, dst);
  store_quads32(quads + 2, n, dst + n);
}
#endif

}  // namespace
}  // namespace sparq::kernels
