// The xsimd architectures the kernel files are compiled for, and loads that
// xsimd 8.1 has no portable form for (bytes and 16-bit integers widened to
// wider lanes). Include
// only from a file compiled with that ISA's flags (file suffix _avx2/_avx512/
// _vnni/_amx): the intrinsics need them.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <xsimd/xsimd.hpp>

#include "kernels/common/lane_masks.hpp"

namespace sparq::kernels {

using ArchAvx2 = xsimd::fma3<xsimd::avx2>;
using ArchAvx512 = xsimd::avx512bw;

// fma(a, b, c) rounded once, as an instruction: xsimd 8.1 has no AVX-512
// fma and falls back to a * b + c, which rounds twice unless contracted.
// fused_negated_multiply_add(a, b, c) = c - a * b, rounded once.
#if defined(__AVX2__)
inline xsimd::batch<float, ArchAvx2> fused_multiply_add(xsimd::batch<float, ArchAvx2> a,
                                                        xsimd::batch<float, ArchAvx2> b,
                                                        xsimd::batch<float, ArchAvx2> c) {
  return _mm256_fmadd_ps(a, b, c);
}
inline xsimd::batch<float, ArchAvx2> fused_negated_multiply_add(xsimd::batch<float, ArchAvx2> a,
                                                                xsimd::batch<float, ArchAvx2> b,
                                                                xsimd::batch<float, ArchAvx2> c) {
  return _mm256_fnmadd_ps(a, b, c);
}
#endif
#if defined(__AVX512F__)
inline xsimd::batch<float, ArchAvx512> fused_multiply_add(xsimd::batch<float, ArchAvx512> a,
                                                          xsimd::batch<float, ArchAvx512> b,
                                                          xsimd::batch<float, ArchAvx512> c) {
  return _mm512_fmadd_ps(a, b, c);
}
inline xsimd::batch<float, ArchAvx512> fused_negated_multiply_add(
    xsimd::batch<float, ArchAvx512> a, xsimd::batch<float, ArchAvx512> b,
    xsimd::batch<float, ArchAvx512> c) {
  return _mm512_fnmadd_ps(a, b, c);
}
#endif

// Stores lanes [0, count) of v (count < the lane count) with one masked
// store: no bytes past dst + count are touched.
#if defined(__AVX2__)
// All-ones in lanes [0, count) of 8.
inline __m256i first_lanes8(int64_t count) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), lane);
}

inline void store_first(xsimd::batch<float, ArchAvx2> v, float* dst, int64_t count) {
  _mm256_maskstore_ps(dst, first_lanes8(count), v);
}
#endif
#if defined(__AVX512F__)
inline void store_first(xsimd::batch<float, ArchAvx512> v, float* dst, int64_t count) {
  _mm512_mask_storeu_ps(dst, static_cast<__mmask16>(first_lanes16(count)), v);
}
#endif

// Lanes [0, count) of v, the others +0 (count < the lane count).
#if defined(__AVX2__)
inline xsimd::batch<float, ArchAvx2> first_lanes_of(xsimd::batch<float, ArchAvx2> v,
                                                    int64_t count) {
  return _mm256_and_ps(v, _mm256_castsi256_ps(first_lanes8(count)));
}
#endif
#if defined(__AVX512F__)
inline xsimd::batch<float, ArchAvx512> first_lanes_of(xsimd::batch<float, ArchAvx512> v,
                                                      int64_t count) {
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(first_lanes16(count)), v);
}
#endif

template <class Arch>
struct WideningLoads;

#if defined(__AVX2__)
template <>
struct WideningLoads<ArchAvx2> {
  using Batch = xsimd::batch<float, ArchAvx2>;
  static Batch u8(const uint8_t* p) {
    const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
  }
  static Batch s8(const int8_t* p) {
    const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes));
  }
  static Batch s16(const int16_t* p) {
    const __m128i halves = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(halves));
  }
  // 16 bytes widened to 16-bit lanes.
  using Shorts = xsimd::batch<int16_t, ArchAvx2>;
  static Shorts u8_as_s16(const uint8_t* p) {
    return _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static Shorts s8_as_s16(const int8_t* p) {
    return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
};
#endif

#if defined(__AVX512F__)
template <>
struct WideningLoads<ArchAvx512> {
  using Batch = xsimd::batch<float, ArchAvx512>;
  static Batch u8(const uint8_t* p) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes));
  }
  static Batch s8(const int8_t* p) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes));
  }
  static Batch s16(const int16_t* p) {
    const __m256i halves = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(halves));
  }
  // 32 bytes widened to 16-bit lanes.
  using Shorts = xsimd::batch<int16_t, ArchAvx512>;
  static Shorts u8_as_s16(const uint8_t* p) {
    return _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static Shorts s8_as_s16(const int8_t* p) {
    return _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
};
#endif

// Lanes 0, 2, 4, ... of the 2 x size 16-bit values at p (reads p[0, 2 x
// size) of the result's lanes): the even columns of a row, for stride-2
// planes, as 16-bit lanes (s16) or widened to fp32 lanes (f32).
template <class Arch>
struct EvenLanes;

#if defined(__AVX2__)
template <>
struct EvenLanes<ArchAvx2> {
  static xsimd::batch<int16_t, ArchAvx2> s16(const int16_t* p) {
    // The low half of each 32-bit lane, packed (exact: masked to 0..65535),
    // then the two 128-bit halves put in order.
    const __m256i low = _mm256_set1_epi32(0xFFFF);
    const __m256i a =
        _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), low);
    const __m256i b =
        _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16)), low);
    return _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
  }
  static xsimd::batch<float, ArchAvx2> f32(const int16_t* p) {
    // The low half of each 32-bit lane, sign-extended.
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm256_cvtepi32_ps(_mm256_srai_epi32(_mm256_slli_epi32(v, 16), 16));
  }
};
#endif

#if defined(__AVX512BW__)
template <>
struct EvenLanes<ArchAvx512> {
  static xsimd::batch<int16_t, ArchAvx512> s16(const int16_t* p) {
    // vpmovdw keeps the low half of each 32-bit lane.
    const __m256i a = _mm512_cvtepi32_epi16(_mm512_loadu_si512(p));
    const __m256i b = _mm512_cvtepi32_epi16(_mm512_loadu_si512(p + 32));
    return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
  }
  static xsimd::batch<float, ArchAvx512> f32(const int16_t* p) {
    const __m512i v = _mm512_loadu_si512(p);
    return _mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(v, 16), 16));
  }
};
#endif

}  // namespace sparq::kernels
