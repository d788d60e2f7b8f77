// The 4 x 16 byte transpose behind every channel-quad layout (the sparse 3x3
// lanes, the direct convolution's packed input): 16 pixels of 4 channels
// become 16 four-byte pixels, byte j holding channel j. SSE2 unpacks, which
// are baseline x86-64, so files of every ISA can use it.
#pragma once

#include <emmintrin.h>

namespace sparq::kernels {

// channels[j]: pixels 0..15 of channel j. quads[k]: pixels 4k..4k+3.
inline void transpose_to_quads(const __m128i channels[4], __m128i quads[4]) {
  const __m128i ab_lo = _mm_unpacklo_epi8(channels[0], channels[1]);
  const __m128i ab_hi = _mm_unpackhi_epi8(channels[0], channels[1]);
  const __m128i cd_lo = _mm_unpacklo_epi8(channels[2], channels[3]);
  const __m128i cd_hi = _mm_unpackhi_epi8(channels[2], channels[3]);
  quads[0] = _mm_unpacklo_epi16(ab_lo, cd_lo);
  quads[1] = _mm_unpackhi_epi16(ab_lo, cd_lo);
  quads[2] = _mm_unpacklo_epi16(ab_hi, cd_hi);
  quads[3] = _mm_unpackhi_epi16(ab_hi, cd_hi);
}

}  // namespace sparq::kernels
