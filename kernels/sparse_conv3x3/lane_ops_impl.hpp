// Template bodies of LaneOps, included by exactly one file per ISA
// (lane_ops_scalar.cpp, lane_ops_avx2.cpp, lane_ops_avx512.cpp) so each copy
// is compiled with that ISA's flags. Plain loops over contiguous rows, written
// so the compiler vectorises them.
#pragma once

#include <emmintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/common/inside_range.hpp"
#include "kernels/sparse_conv3x3/lane_ops.hpp"

namespace sparq::kernels::sparse3x3 {
namespace {

template <int S, typename In>
void stage_f32_rows(const In* plane, int height, int width, const Sparse3x3Geometry& g,
                    float* lane) {
  for (int ry = 0; ry < S; ++ry) {
    for (int rx = 0; rx < S; ++rx) {
      float* base = lane + static_cast<int64_t>(ry * S + rx) * g.plane_elems;
      const InsideRange cols = inside_range(g.pitch, S, rx - 1, width);  // column -1: padding
      for (int a = 0; a < g.plane_rows; ++a) {
        float* dst = base + static_cast<int64_t>(a) * g.pitch;
        const int iy = S * a + ry - 1;
        if (iy < 0 || iy >= height) {
          std::fill(dst, dst + g.pitch, 0.0f);
          continue;
        }
        const In* src = plane + static_cast<int64_t>(iy) * width;
        const int shift = rx - 1;
        std::fill(dst, dst + cols.begin, 0.0f);
        for (int b = cols.begin; b < cols.end; ++b) dst[b] = static_cast<float>(src[S * b + shift]);
        std::fill(dst + cols.end, dst + g.pitch, 0.0f);
      }
    }
  }
}

template <typename In>
void stage_f32(const void* channel, bool, int height, int width, int stride,
               const Sparse3x3Geometry& g, float* lane) {
  const auto* plane = static_cast<const In*>(channel);
  if (stride == 1) {
    stage_f32_rows<1>(plane, height, width, g, lane);
  } else {
    stage_f32_rows<2>(plane, height, width, g, lane);
  }
}

void stage_f32_any(const void* channel, bool signed_input, int height, int width, int stride,
                   const Sparse3x3Geometry& g, float* lane) {
  if (signed_input) {
    stage_f32<int8_t>(channel, signed_input, height, width, stride, g, lane);
  } else {
    stage_f32<uint8_t>(channel, signed_input, height, width, stride, g, lane);
  }
}

// Quad lanes hold raw bytes (u8, or s8 two's complement for the scalar path).
template <int S>
void stage_quad_rows(const uint8_t* const planes[4], int height, int width,
                     const Sparse3x3Geometry& g, uint8_t* lane) {
  for (int ry = 0; ry < S; ++ry) {
    for (int rx = 0; rx < S; ++rx) {
      auto* base =
          reinterpret_cast<uint32_t*>(lane) + static_cast<int64_t>(ry * S + rx) * g.plane_elems;
      const InsideRange cols = inside_range(g.pitch, S, rx - 1, width);  // column -1: padding
      for (int a = 0; a < g.plane_rows; ++a) {
        uint32_t* dst = base + static_cast<int64_t>(a) * g.pitch;
        const int iy = S * a + ry - 1;
        if (iy < 0 || iy >= height) {
          std::fill(dst, dst + g.pitch, 0u);
          continue;
        }
        // Missing channels (past the channel count) read channel 0 masked to 0.
        const uint8_t* src[4];
        uint32_t keep[4];
        for (int j = 0; j < 4; ++j) {
          const uint8_t* plane = planes[j] != nullptr ? planes[j] : planes[0];
          src[j] = plane + static_cast<int64_t>(iy) * width;
          keep[j] = planes[j] != nullptr ? 0xFFu : 0u;
        }
        const int shift = rx - 1;
        std::fill(dst, dst + cols.begin, 0u);
        int b = cols.begin;
        if constexpr (S == 1) {
          // 16 pixels at a time: a 4 x 16 byte transpose with SSE2 unpacks
          // (baseline x86-64, so every ISA file gets it).
          for (; b + 16 <= cols.end; b += 16) {
            __m128i r[4];
            for (int j = 0; j < 4; ++j) {
              r[j] = _mm_and_si128(
                  _mm_loadu_si128(reinterpret_cast<const __m128i*>(src[j] + b + shift)),
                  _mm_set1_epi8(static_cast<char>(keep[j])));
            }
            const __m128i ab_lo = _mm_unpacklo_epi8(r[0], r[1]);
            const __m128i ab_hi = _mm_unpackhi_epi8(r[0], r[1]);
            const __m128i cd_lo = _mm_unpacklo_epi8(r[2], r[3]);
            const __m128i cd_hi = _mm_unpackhi_epi8(r[2], r[3]);
            auto* out = reinterpret_cast<__m128i*>(dst + b);
            _mm_storeu_si128(out + 0, _mm_unpacklo_epi16(ab_lo, cd_lo));
            _mm_storeu_si128(out + 1, _mm_unpackhi_epi16(ab_lo, cd_lo));
            _mm_storeu_si128(out + 2, _mm_unpacklo_epi16(ab_hi, cd_hi));
            _mm_storeu_si128(out + 3, _mm_unpackhi_epi16(ab_hi, cd_hi));
          }
        }
        for (; b < cols.end; ++b) {
          const int ix = S * b + shift;
          dst[b] = (uint32_t{src[0][ix]} & keep[0]) | (uint32_t{src[1][ix]} & keep[1]) << 8 |
                   (uint32_t{src[2][ix]} & keep[2]) << 16 | (uint32_t{src[3][ix]} & keep[3]) << 24;
        }
        std::fill(dst + cols.end, dst + g.pitch, 0u);
      }
    }
  }
}

void stage_quad_any(const void* const channels[4], bool, int height, int width, int stride,
                    const Sparse3x3Geometry& g, uint8_t* lane) {
  const uint8_t* planes[4];
  for (int j = 0; j < 4; ++j) planes[j] = static_cast<const uint8_t*>(channels[j]);
  if (stride == 1) {
    stage_quad_rows<1>(planes, height, width, g, lane);
  } else {
    stage_quad_rows<2>(planes, height, width, g, lane);
  }
}

// ReLU as `y > 0 ? y : +0`, ReLU6 as min of that and 6: the reference
// backend's rule (NaN and -0 become +0).
template <Activation A, typename Acc>
void epilogue_loop(const Acc* acc, int64_t count, float scale, float bias, float* dst) {
  for (int64_t j = 0; j < count; ++j) {
    float y = __builtin_fmaf(static_cast<float>(acc[j]), scale, bias);
    if constexpr (A != Activation::kNone) y = y > 0.0f ? y : 0.0f;
    if constexpr (A == Activation::kRelu6) y = y < 6.0f ? y : 6.0f;
    dst[j] = y;
  }
}

template <typename Acc>
void epilogue_typed(const Acc* acc, int64_t count, float scale, float bias, Activation activation,
                    float* dst) {
  switch (activation) {
    case Activation::kNone:
      epilogue_loop<Activation::kNone>(acc, count, scale, bias, dst);
      break;
    case Activation::kRelu:
      epilogue_loop<Activation::kRelu>(acc, count, scale, bias, dst);
      break;
    case Activation::kRelu6:
      epilogue_loop<Activation::kRelu6>(acc, count, scale, bias, dst);
      break;
  }
}

// Walks the tile's grid pixels [first, last) row segment by row segment and
// writes the valid columns (< out_width) of each.
void epilogue_any(const void* acc, bool acc_is_float, int64_t first, int64_t last, int pitch,
                  int out_width, float scale, float bias, Activation activation, float* out) {
  for (int64_t p = first; p < last;) {
    const int64_t oy = p / pitch;
    const int64_t ox0 = p - oy * pitch;
    const int64_t segment_end = std::min<int64_t>(last, (oy + 1) * pitch);
    const int64_t ox1 = std::min<int64_t>(out_width, segment_end - oy * pitch);
    if (ox1 > ox0) {
      float* dst = out + oy * out_width + ox0;
      const int64_t offset = p - first;
      if (acc_is_float) {
        epilogue_typed(static_cast<const float*>(acc) + offset, ox1 - ox0, scale, bias, activation,
                       dst);
      } else {
        epilogue_typed(static_cast<const int32_t*>(acc) + offset, ox1 - ox0, scale, bias,
                       activation, dst);
      }
    }
    p = segment_end;
  }
}

template <Activation A>
void epilogue_channels_loop(const int32_t* acc, int tile, int pixels, int channels,
                            const float* scales, const float* bias, float* out, int64_t plane) {
  for (int c = 0; c < channels; ++c) {
    const int32_t* column = acc + (c / 16) * tile * 16 + c % 16;
    float* dst = out + c * plane;
    for (int p = 0; p < pixels; ++p) {
      float y = __builtin_fmaf(static_cast<float>(column[p * 16]), scales[c], bias[c]);
      if constexpr (A != Activation::kNone) y = y > 0.0f ? y : 0.0f;
      if constexpr (A == Activation::kRelu6) y = y < 6.0f ? y : 6.0f;
      dst[p] = y;
    }
  }
}

void epilogue_channels_any(const int32_t* acc, int tile, int pixels, int channels,
                           const float* scales, const float* bias, Activation activation,
                           float* out, int64_t plane) {
  switch (activation) {
    case Activation::kNone:
      epilogue_channels_loop<Activation::kNone>(acc, tile, pixels, channels, scales, bias, out,
                                                plane);
      break;
    case Activation::kRelu:
      epilogue_channels_loop<Activation::kRelu>(acc, tile, pixels, channels, scales, bias, out,
                                                plane);
      break;
    case Activation::kRelu6:
      epilogue_channels_loop<Activation::kRelu6>(acc, tile, pixels, channels, scales, bias, out,
                                                 plane);
      break;
  }
}

constexpr LaneOps kLaneOps{&stage_f32_any, &stage_quad_any, &epilogue_any, &epilogue_channels_any};

}  // namespace
}  // namespace sparq::kernels::sparse3x3
