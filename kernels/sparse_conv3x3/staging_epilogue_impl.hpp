// Template bodies of StagingEpilogue, included by exactly one file per ISA
// (staging_epilogue_scalar.cpp, staging_epilogue_avx2.cpp, staging_epilogue_avx512.cpp) so each
// copy is compiled with that ISA's flags. Plain loops over contiguous rows, written so the compiler
// vectorises them.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/common/activation.hpp"
#include "kernels/common/byte_quads.hpp"
#include "kernels/common/byte_quads_avx512.hpp"
#include "kernels/common/inside_range.hpp"
#include "kernels/common/lane_masks.hpp"
#include "kernels/quantize/quantize_scalar_rule.hpp"
#include "kernels/sparse_conv3x3/staging_epilogue.hpp"
#if defined(__AVX2__)
#include "kernels/common/activation_simd.hpp"
#include "kernels/quantize/store_quantized.hpp"
#endif
#if defined(__AVX512F__)
#include "kernels/common/transpose_avx512.hpp"
#endif

namespace sparq::kernels::sparse3x3 {
namespace {

template <int S, typename In>
void stage_f32_rows(const In* plane, int height, int width, const Sparse3x3Geometry& g,
                    int row_begin, int row_end, float* lane) {
  for (int ry = 0; ry < S; ++ry) {
    for (int rx = 0; rx < S; ++rx) {
      float* base = lane + static_cast<int64_t>(ry * S + rx) * g.plane_elems;
      const InsideRange cols = inside_range(g.pitch, S, rx - 1, width);  // column -1: padding
      for (int a = row_begin; a < row_end; ++a) {
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
void stage_f32(const void* channel, int height, int width, int stride, const Sparse3x3Geometry& g,
               int row_begin, int row_end, float* lane) {
  const auto* plane = static_cast<const In*>(channel);
  if (stride == 1) {
    stage_f32_rows<1>(plane, height, width, g, row_begin, row_end, lane);
  } else {
    stage_f32_rows<2>(plane, height, width, g, row_begin, row_end, lane);
  }
}

void stage_f32_any(const void* channel, bool signed_input, int height, int width, int stride,
                   const Sparse3x3Geometry& g, int row_begin, int row_end, float* lane) {
  if (signed_input) {
    stage_f32<int8_t>(channel, height, width, stride, g, row_begin, row_end, lane);
  } else {
    stage_f32<uint8_t>(channel, height, width, stride, g, row_begin, row_end, lane);
  }
}

// dst[0, 16) = pixels [at, at + 16) of the 4 channel rows, channel j in byte
// j (masked by keep[j]): the SSE2 transpose (AVX2 and scalar files).
inline void interleave16(const uint8_t* const src[4], const uint32_t keep[4], int64_t at,
                         uint32_t* dst) {
  __m128i r[4];
  for (int j = 0; j < 4; ++j) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src[j] + at));
    r[j] = _mm_and_si128(v, _mm_set1_epi8(static_cast<char>(keep[j])));
  }
  __m128i quads[4];
  transpose_to_quads(r, quads);
  auto* out = reinterpret_cast<__m128i*>(dst);
  for (int k = 0; k < 4; ++k) _mm_storeu_si128(out + k, quads[k]);
}

#if defined(__AVX512BW__) && defined(__AVX512VL__)
// dst[0, n) = 0 in masked stores: the padding columns around a row are a
// pixel or two, where a call to memset costs more than the row's copy.
inline void zero_quads(uint32_t* dst, int64_t n) {
  for (int64_t k = 0; k < n; k += 16) {
    const auto m = static_cast<__mmask16>(first_lanes16(std::min<int64_t>(16, n - k)));
    _mm512_mask_storeu_epi32(dst + k, m, _mm512_setzero_si512());
  }
}

// Pixels of a flat block of whole rows: a bound on one call's L1 buffer.
constexpr int kFlatBlockPixels = 1024;

// The quads of image rows [row_begin, row_end) of the 4 channel planes
// (null: a zero channel), 64 pixels of the flat plane at a time, into
// block[0, (row_end - row_begin) * width).
inline void whole_row_quads(const uint8_t* const planes[4], int width, int row_begin, int row_end,
                            uint32_t* block) {
  const int64_t first = static_cast<int64_t>(row_begin) * width;
  const int64_t count = static_cast<int64_t>(row_end - row_begin) * width;
  for (int64_t p = 0; p < count; p += 64) {
    const int n = static_cast<int>(std::min<int64_t>(64, count - p));
    __m512i pixels[4];
    for (int j = 0; j < 4; ++j) {
      pixels[j] = planes[j] != nullptr
                      ? _mm512_maskz_loadu_epi8(first_lanes(n), planes[j] + first + p)
                      : _mm512_setzero_si512();
    }
    store_quads64(pixels, n, block + p);
  }
}

// Stride 1 on rows of at most kFlatBlockPixels: a channel's image rows are
// contiguous, so the quads are made 64 pixels of the flat plane at a time
// into an L1 block (whole shuffle networks even on rows of 7 or 14 pixels,
// where one network per row used a fraction of it), then copied into the
// padded rows. The same bytes as the row-by-row path.
inline void stage_quad_rows_flat(const uint8_t* const planes[4], int height, int width,
                                 const Sparse3x3Geometry& g, int row_begin, int row_end,
                                 uint32_t* base) {
  alignas(64) uint32_t block[kFlatBlockPixels];
  const int rows_per_block = kFlatBlockPixels / width;
  const InsideRange cols = inside_range(g.pitch, 1, -1, width);  // column -1: padding
  const int64_t copied = cols.end - cols.begin;                  // pixels cols.begin - 1 on
  for (int a = row_begin; a < row_end;) {
    const int iy = a - 1;
    if (iy < 0 || iy >= height) {
      zero_quads(base + static_cast<int64_t>(a) * g.pitch, g.pitch);
      ++a;
      continue;
    }
    const int iy_end = std::min({height, iy + rows_per_block, row_end - 1});
    whole_row_quads(planes, width, iy, iy_end, block);
    for (int r = iy; r < iy_end; ++r, ++a) {
      uint32_t* dst = base + static_cast<int64_t>(a) * g.pitch;
      const uint32_t* src = block + static_cast<int64_t>(r - iy) * width + (cols.begin - 1);
      zero_quads(dst, cols.begin);
      for (int64_t k = 0; k < copied; k += 16) {
        const auto m = static_cast<__mmask16>(first_lanes16(std::min<int64_t>(16, copied - k)));
        _mm512_mask_storeu_epi32(dst + cols.begin + k, m, _mm512_maskz_loadu_epi32(m, src + k));
      }
      zero_quads(dst + cols.end, g.pitch - cols.end);
    }
  }
}

// dst[0, n) = src[0], src[2], ..., src[2 n - 2]: every other quad of a row,
// 16 per step from 32 (only the 2 n - 1 quads read are loaded).
inline void copy_every_other_quad(const uint32_t* src, uint32_t* dst, int64_t n) {
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  for (int64_t k = 0; k < n; k += 16) {
    const int64_t read = 2 * std::min<int64_t>(16, n - k) - 1;
    const auto lo_mask = static_cast<__mmask16>(first_lanes16(std::min<int64_t>(16, read)));
    const auto hi_mask = static_cast<__mmask16>(first_lanes16(std::max<int64_t>(0, read - 16)));
    const __m512i lo = _mm512_maskz_loadu_epi32(lo_mask, src + 2 * k);
    const __m512i hi = _mm512_maskz_loadu_epi32(hi_mask, src + 2 * k + 16);
    const auto m = static_cast<__mmask16>(first_lanes16(std::min<int64_t>(16, n - k)));
    _mm512_mask_storeu_epi32(dst + k, m, _mm512_permutex2var_epi32(lo, even, hi));
  }
}

// Stride 2 on rows of at most kFlatBlockPixels. Phase plane (ry, rx) row a
// column b holds input pixel (2 a + ry - 1, 2 b + rx - 1), so each input row
// is one phase row of ry = (iy + 1) % 2 in both column phases. The quads of
// whole input rows are made as for stride 1 (64 pixels of the flat plane
// per step into an L1 block), then each row's odd and even quads go to the
// two column phases. Row by row, each phase row was a deinterleave of the 4
// channels and a 64-lane transpose of which a 7- to 29-pixel row used a
// fraction: ResNet-18's stride-2 layers staged in about 28 us each whatever
// their size. The same bytes as the row-by-row path.
inline void stage_quad_rows_flat_s2(const uint8_t* const planes[4], int height, int width,
                                    const Sparse3x3Geometry& g, int row_begin, int row_end,
                                    uint32_t* lane) {
  alignas(64) uint32_t block[kFlatBlockPixels];
  const int rows_per_block = kFlatBlockPixels / width;
  // Column phase rx: columns b whose input column 2 b + rx - 1 is inside.
  const InsideRange cols[2] = {inside_range(g.pitch, 2, -1, width),
                               inside_range(g.pitch, 2, 0, width)};
  auto phase_row = [&](int iy, int rx) {
    const int a = (iy + 1) / 2, ry = (iy + 1) % 2;
    return lane + static_cast<int64_t>(ry * 2 + rx) * g.plane_elems +
           static_cast<int64_t>(a) * g.pitch;
  };
  // The input rows of phase rows [row_begin, row_end): iy = 2 a + ry - 1.
  const int iy_last = 2 * row_end - 1;
  for (int iy = 2 * row_begin - 1; iy < iy_last;) {
    if (iy < 0 || iy >= height) {
      for (int rx = 0; rx < 2; ++rx) zero_quads(phase_row(iy, rx), g.pitch);
      ++iy;
      continue;
    }
    const int block_row = iy;
    const int iy_end = std::min({height, iy + rows_per_block, iy_last});
    whole_row_quads(planes, width, iy, iy_end, block);
    for (; iy < iy_end; ++iy) {
      const uint32_t* row = block + static_cast<int64_t>(iy - block_row) * width;
      for (int rx = 0; rx < 2; ++rx) {
        uint32_t* dst = phase_row(iy, rx);
        const InsideRange c = cols[rx];
        zero_quads(dst, c.begin);
        copy_every_other_quad(row + 2 * c.begin + rx - 1, dst + c.begin, c.end - c.begin);
        zero_quads(dst + c.end, g.pitch - c.end);
      }
    }
  }
}
#endif

// Quad lanes hold raw bytes (u8, or s8 two's complement for the scalar path).
template <int S>
void stage_quad_rows(const uint8_t* const planes[4], int height, int width,
                     const Sparse3x3Geometry& g, int row_begin, int row_end, uint8_t* lane) {
#if defined(__AVX512BW__) && defined(__AVX512VL__)
  if (width <= kFlatBlockPixels) {
    if constexpr (S == 1) {
      stage_quad_rows_flat(planes, height, width, g, row_begin, row_end,
                           reinterpret_cast<uint32_t*>(lane));
    } else {
      stage_quad_rows_flat_s2(planes, height, width, g, row_begin, row_end,
                              reinterpret_cast<uint32_t*>(lane));
    }
    return;
  }
#endif
  for (int ry = 0; ry < S; ++ry) {
    for (int rx = 0; rx < S; ++rx) {
      auto* base =
          reinterpret_cast<uint32_t*>(lane) + static_cast<int64_t>(ry * S + rx) * g.plane_elems;
      const InsideRange cols = inside_range(g.pitch, S, rx - 1, width);  // column -1: padding
      for (int a = row_begin; a < row_end; ++a) {
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
#if defined(__AVX512BW__) && defined(__AVX512VL__)
        // 64 pixels of the 4 channels per step, either stride.
        for (; b < cols.end; b += 64) {
          const int n = std::min(64, static_cast<int>(cols.end - b));
          __m512i pixels[4];
          for (int j = 0; j < 4; ++j) {
            pixels[j] = keep[j] != 0 ? load_row_pixels<S>(src[j] + S * b + shift, n)
                                     : _mm512_setzero_si512();
          }
          store_quads64(pixels, n, dst + b);
        }
#else
        if constexpr (S == 1) {
          for (; b + 16 <= cols.end; b += 16) interleave16(src, keep, b + shift, dst + b);
        }
#endif
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
                    const Sparse3x3Geometry& g, int row_begin, int row_end, uint8_t* lane) {
  const uint8_t* planes[4];
  for (int j = 0; j < 4; ++j) planes[j] = static_cast<const uint8_t*>(channels[j]);
  if (stride == 1) {
    stage_quad_rows<1>(planes, height, width, g, row_begin, row_end, lane);
  } else {
    stage_quad_rows<2>(planes, height, width, g, row_begin, row_end, lane);
  }
}

// Calls f(std::integral_constant<Activation, A>{}) for the runtime
// activation, so each epilogue is one template per activation.
template <typename F>
void with_activation(Activation activation, const F& f) {
  switch (activation) {
    case Activation::kNone:
      return f(std::integral_constant<Activation, Activation::kNone>{});
    case Activation::kRelu:
      return f(std::integral_constant<Activation, Activation::kRelu>{});
    case Activation::kRelu6:
      return f(std::integral_constant<Activation, Activation::kRelu6>{});
  }
}

// ReLU as `y > 0 ? y : +0`, ReLU6 as min of that and 6: the reference
// backend's rule (NaN and -0 become +0).
template <Activation A, typename Acc>
void epilogue_loop(const Acc* acc, int64_t count, float scale, float bias, float* dst) {
  for (int64_t j = 0; j < count; ++j) {
    float y = __builtin_fmaf(static_cast<float>(acc[j]), scale, bias);
    y = apply_activation(y, A);  // A is a constant: the switch folds away
    dst[j] = y;
  }
}

// A fused residual (FusedResidual): the AddOp's rule, act(a + b) with the
// add's operands in its order, on the layer's value y and the residual r.
template <Activation A2>
float residual_value(float y, float r, bool residual_first) {
  return apply_activation(residual_first ? r + y : y + r, A2);
}

#if defined(__AVX512F__)
// The first min(count, 16) lanes.
inline __mmask16 lanes_mask(int64_t count) {
  return static_cast<__mmask16>(first_lanes16(std::min<int64_t>(count, 16)));
}

// act(fma(x, s, b)) as epilogue_loop computes it: max_ps(y, 0) returns its
// second operand when y > 0 fails (NaN, -0 -> +0), min_ps(y, 6) likewise.
template <Activation A>
__m512 activate_vector(__m512 y) {
  if constexpr (A != Activation::kNone) y = _mm512_max_ps(y, _mm512_setzero_ps());
  if constexpr (A == Activation::kRelu6) y = _mm512_min_ps(y, _mm512_set1_ps(6.0f));
  return y;
}

template <Activation A>
__m512 epilogue_vector(__m512 x, __m512 s, __m512 b) {
  return activate_vector<A>(_mm512_fmadd_ps(x, s, b));
}

// The fused residual on 16 values: residual_value's rule.
template <Activation A2>
__m512 residual_vector(__m512 y, __m512 r, bool residual_first) {
  return activate_vector<A2>(residual_first ? _mm512_add_ps(r, y) : _mm512_add_ps(y, r));
}

// Lanes m of the 16 accumulators at acc as f32 (0 elsewhere): cvtepi32_ps
// rounds to nearest like the cast.
template <typename Acc>
__m512 load_accumulators(const Acc* acc, __mmask16 m) {
  if constexpr (std::is_same_v<Acc, float>) {
    return _mm512_maskz_loadu_ps(m, acc);
  } else {
    return _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, acc));
  }
}

// epilogue_loop 16 lanes at a time with a masked tail: row segments are
// short (28 of a 28x28 plane), and a scalar remainder loop would cost as
// much as the vector body.
// store(y, mask, j) receives the values of elements [j, j + 16).
template <Activation A, typename Acc, typename Store>
void epilogue_vectors_avx512(const Acc* acc, int64_t count, float scale, float bias,
                             const Store& store) {
  const __m512 s = _mm512_set1_ps(scale), b = _mm512_set1_ps(bias);
  // Whole vectors under a constant mask, which folds away (a mask made per
  // vector was a third of the loop's instructions), then the tail.
  constexpr __mmask16 kAll = 0xFFFF;
  int64_t j = 0;
  for (; j + 16 <= count; j += 16) {
    store(epilogue_vector<A>(load_accumulators(acc + j, kAll), s, b), kAll, j);
  }
  if (j < count) {
    const __mmask16 m = lanes_mask(count - j);
    store(epilogue_vector<A>(load_accumulators(acc + j, m), s, b), m, j);
  }
}

template <Activation A, typename Acc>
void epilogue_loop_avx512(const Acc* acc, int64_t count, float scale, float bias, float* dst) {
  epilogue_vectors_avx512<A>(acc, count, scale, bias, [dst](__m512 y, __mmask16 m, int64_t j) {
    _mm512_mask_storeu_ps(dst + j, m, y);
  });
}
#endif

// The range of the f32 values one epilogue call writes (EpilogueOutput::
// range): on AVX-512 widened in registers as each vector is stored and
// written back once at the end; elsewhere folded from the values written by
// the scalar rule into lane 0. After a ReLU or ReLU6 (never NaN, never below
// +0) only the maxima, one max per vector.
template <Activation A>
class RangeSink {
 public:
  explicit RangeSink(RangeLanes* lanes) : lanes_(lanes) {
#if defined(__AVX512F__)
    if (lanes_ == nullptr) return;
    high_ = _mm512_load_ps(lanes_->high);
    low_ = _mm512_load_ps(lanes_->low);
#endif
  }
  RangeSink(const RangeSink&) = delete;
  RangeSink& operator=(const RangeSink&) = delete;
  ~RangeSink() {
#if defined(__AVX512F__)
    if (lanes_ == nullptr) return;
    _mm512_store_ps(lanes_->high, high_);
    _mm512_store_ps(lanes_->low, low_);
#endif
  }
  bool active() const {
    return lanes_ != nullptr;
  }

#if defined(__AVX512F__)
  // Lanes m of y.
  void add(__m512 y, __mmask16 m) {
    Quantize<ArchAvx512>::widen_stored(_mm512_maskz_mov_ps(m, y), high_, low_,
                                       A != Activation::kNone);
  }
#endif
  // y[0, count), already written (the paths without AVX-512).
  void add_written(const float* y, int64_t count) {
    scalar_rule::widen_lane0(y, static_cast<size_t>(count), *lanes_);
  }

 private:
  RangeLanes* lanes_;
#if defined(__AVX512F__)
  xsimd::batch<float, ArchAvx512> high_, low_;
#endif
};

template <Activation A, typename Acc>
void epilogue_run(const Acc* acc, int64_t count, float scale, float bias, float* dst,
                  RangeSink<A>& range) {
#if defined(__AVX512F__)
  if (range.active()) {
    epilogue_vectors_avx512<A>(acc, count, scale, bias,
                               [dst, &range](__m512 y, __mmask16 m, int64_t j) {
                                 _mm512_mask_storeu_ps(dst + j, m, y);
                                 range.add(y, m);
                               });
  } else {
    epilogue_loop_avx512<A>(acc, count, scale, bias, dst);
  }
#else
  epilogue_loop<A>(acc, count, scale, bias, dst);
  if (range.active()) range.add_written(dst, count);
#endif
}

// epilogue_run with a fused residual: res[j] joins each value y[j] before
// it is stored, and the range is the stored values' (A2 after the add).
template <Activation A, Activation A2, typename Acc>
void epilogue_run_residual(const Acc* acc, int64_t count, float scale, float bias, float* dst,
                           const float* res, bool residual_first, RangeSink<A2>& range) {
#if defined(__AVX512F__)
  epilogue_vectors_avx512<A>(acc, count, scale, bias, [&](__m512 y, __mmask16 m, int64_t j) {
    const __m512 v = residual_vector<A2>(y, _mm512_maskz_loadu_ps(m, res + j), residual_first);
    _mm512_mask_storeu_ps(dst + j, m, v);
    if (range.active()) range.add(v, m);
  });
#else
  epilogue_loop<A>(acc, count, scale, bias, dst);
  for (int64_t j = 0; j < count; ++j) dst[j] = residual_value<A2>(dst[j], res[j], residual_first);
  if (range.active()) range.add_written(dst, count);
#endif
}

// The fused static quantize of f32 values y[0, count): this ISA's quantize
// kernel (the rule's one vector definition, scalar on the scalar path).
inline void quantize_values(const float* y, int64_t count, const EpilogueOutput& out,
                            uint8_t* dst) {
  const auto n = static_cast<size_t>(count);
#if defined(__AVX512F__)
  using Rule = Quantize<ArchAvx512>;
#elif defined(__AVX2__)
  using Rule = Quantize<ArchAvx2>;
#else
  namespace Rule = scalar_rule;
#endif
  const FusedQuantize& q = out.quantize;
  if (q.is_signed) {
    Rule::to_s8(y, n, q.scale, reinterpret_cast<int8_t*>(dst));
  } else {
    Rule::to_u8(y, n, q.scale, q.qmax, dst);
  }
}

// Values computed a chunk at a time into an L1 buffer, then quantized.
constexpr int64_t kQuantizeChunk = 64;

// The fused static quantize's operands on this ISA (QuantizedStore; the
// scalar path keeps the format), set up once per epilogue call: they
// include a division (the scale's reciprocal), which once per row segment
// and channel made the quantized layers slower than the f32 ones.
#if defined(__AVX512F__)
using ByteStore = QuantizedStore<ArchAvx512>;
#elif defined(__AVX2__)
using ByteStore = QuantizedStore<ArchAvx2>;
#else
struct ByteStore {
  explicit ByteStore(const FusedQuantize&, bool = false) {}
};
#endif

// epilogue_run with the fused static quantize: on AVX-512 and AVX2 each
// vector of y goes straight through the quantize kernel's round_clamp; the
// scalar path goes through an L1 chunk and the scalar rule.
template <Activation A, typename Acc>
void epilogue_run_quantized(const Acc* acc, int64_t count, float scale, float bias,
                            const EpilogueOutput& out, [[maybe_unused]] const ByteStore& to_bytes,
                            uint8_t* dst) {
#if defined(__AVX512F__)
  epilogue_vectors_avx512<A>(
      acc, count, scale, bias,
      [&to_bytes, dst](__m512 y, __mmask16 m, int64_t j) { to_bytes.store_lanes(y, m, dst + j); });
#elif defined(__AVX2__)
  // 8 lanes in registers (the same FMA, activation and quantize kernel
  // round_clamp as the other paths); the tail under a load mask, its bytes
  // copied out, so no lane runs the scalar rule (short row segments would
  // spend most of their time there).
  using Batch = xsimd::batch<float, ArchAvx2>;
  const Batch s(scale), b(bias);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t j = 0; j < count; j += 8) {
    const int64_t n = std::min<int64_t>(8, count - j);
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), lane);
    Batch x;
    if constexpr (std::is_same_v<Acc, float>) {
      x = _mm256_maskload_ps(acc + j, m);
    } else {
      x = _mm256_cvtepi32_ps(_mm256_maskload_epi32(reinterpret_cast<const int*>(acc + j), m));
    }
    to_bytes.store(apply_activation(fused_multiply_add(x, s, b), A), dst + j, n);
  }
#else
  alignas(64) float y[kQuantizeChunk];
  for (int64_t j = 0; j < count; j += kQuantizeChunk) {
    const int64_t n = std::min(kQuantizeChunk, count - j);
    epilogue_loop<A>(acc + j, n, scale, bias, y);
    quantize_values(y, n, out, dst + j);
  }
#endif
}

// Calls segment(offset, at, count) for the tile's grid pixels [first, last)
// in row segments of valid columns (< out_width): the segment's first pixel
// is acc element `offset` of a channel and output element `at` of its plane.
template <typename Segment>
void for_row_segments(int64_t first, int64_t last, int pitch, int out_width,
                      const Segment& segment) {
  for (int64_t p = first; p < last;) {
    const int64_t oy = p / pitch;
    const int64_t ox0 = p - oy * pitch;
    const int64_t segment_end = std::min<int64_t>(last, (oy + 1) * pitch);
    const int64_t ox1 = std::min<int64_t>(out_width, segment_end - oy * pitch);
    if (ox1 > ox0) segment(p - first, oy * out_width + ox0, ox1 - ox0);
    p = segment_end;
  }
}

#if defined(__AVX512F__)
// epilogue_run_quantized of G channels at once (rows acc + i * tile, their
// bytes at dst + i * plane): each vector index of the G rows goes through
// one rounding check (ByteStore::store_n), unclamped after a ReLU or ReLU6.
// On a Xeon core ResNet-18's k = 1 layers writing u8 took 12-13 % less time
// than with one check and a masked narrowing store per vector.
template <Activation A, int G, typename Acc>
void epilogue_group_quantized(const Acc* acc, int64_t tile, int64_t count, const float* scales,
                              const float* bias, const ByteStore& to_bytes, uint8_t* dst,
                              int64_t plane) {
  __m512 s[G], b[G];
  for (int i = 0; i < G; ++i) {
    s[i] = _mm512_set1_ps(scales[i]);
    b[i] = _mm512_set1_ps(bias[i]);
  }
  for (int64_t j = 0; j < count; j += 16) {
    const int64_t n = std::min<int64_t>(16, count - j);
    const __mmask16 m = lanes_mask(n);
    xsimd::batch<float, ArchAvx512> y[G];
    uint8_t* d[G];
    int64_t lanes[G];
#pragma GCC unroll 8
    for (int i = 0; i < G; ++i) {
      y[i] = epilogue_vector<A>(load_accumulators(acc + i * tile + j, m), s[i], b[i]);
      d[i] = dst + i * plane + j;
      lanes[i] = n;
    }
    to_bytes.store_n(y, d, lanes);
  }
}
#endif

// The tile's grid pixels [first, last) in row segments, each writing its
// valid columns for every channel of the block: the segments (a division
// each) and the activation dispatch are found once per block, not once per
// channel. One function per kind of output, each compiled on its own: the
// grouped channels of the quantized one, inside a function shared with the
// others, left ResNet-18's residual layers 12-14 % slower.
struct EpilogueBlock {
  int64_t tile;  // accumulator row length: channel c's values start at c * tile
  int channels;
  int64_t first, last;  // grid pixels
  int pitch, out_width;
  const float* scales;
  const float* bias;
  Activation activation;
};

template <typename Acc>
[[gnu::noinline]] void epilogue_block_residual(const Acc* acc, const EpilogueBlock& b,
                                               const EpilogueOutput& out) {
  const int64_t plane = out.plane;
  float* const data = static_cast<float*>(out.data);
  const float* const res = out.residual;
  const bool residual_first = out.residual_first;
  with_activation(b.activation, [&](auto a) {
    with_activation(out.residual_activation, [&](auto a2) {
      RangeSink<a2()> range(out.range);
      for_row_segments(
          b.first, b.last, b.pitch, b.out_width, [&](int64_t offset, int64_t at, int64_t n) {
            for (int c = 0; c < b.channels; ++c) {
              epilogue_run_residual<a(), a2()>(acc + offset + c * b.tile, n, b.scales[c], b.bias[c],
                                               data + at + c * plane, res + at + c * plane,
                                               residual_first, range);
            }
          });
    });
  });
}

template <typename Acc>
[[gnu::noinline]] void epilogue_block_quantized(const Acc* acc, const EpilogueBlock& b,
                                                const EpilogueOutput& out) {
  const int64_t plane = out.plane;
  with_activation(b.activation, [&](auto a) {
    const ByteStore to_bytes(out.quantize, a() != Activation::kNone);
    for_row_segments(
        b.first, b.last, b.pitch, b.out_width, [&](int64_t offset, int64_t at, int64_t n) {
          const Acc* src = acc + offset;
          uint8_t* dst = static_cast<uint8_t*>(out.data) + at;
          int c = 0;
#if defined(__AVX512F__)
          for (; c + 4 <= b.channels; c += 4) {
            epilogue_group_quantized<a(), 4>(src + c * b.tile, b.tile, n, b.scales + c, b.bias + c,
                                             to_bytes, dst + c * plane, plane);
          }
#endif
          for (; c < b.channels; ++c) {
            epilogue_run_quantized<a()>(src + c * b.tile, n, b.scales[c], b.bias[c], out, to_bytes,
                                        dst + c * plane);
          }
        });
  });
}

template <typename Acc>
[[gnu::noinline]] void epilogue_block_float(const Acc* acc, const EpilogueBlock& b,
                                            const EpilogueOutput& out) {
  const int64_t plane = out.plane;
  with_activation(b.activation, [&](auto a) {
    RangeSink<a()> range(out.range);
    for_row_segments(
        b.first, b.last, b.pitch, b.out_width, [&](int64_t offset, int64_t at, int64_t n) {
          const Acc* src = acc + offset;
          float* dst = static_cast<float*>(out.data) + at;
          for (int c = 0; c < b.channels; ++c) {
            epilogue_run<a()>(src + c * b.tile, n, b.scales[c], b.bias[c], dst + c * plane, range);
          }
        });
  });
}

template <typename Acc>
void epilogue_block(const Acc* acc, const EpilogueBlock& b, const EpilogueOutput& out) {
  if (out.residual != nullptr) {
    epilogue_block_residual(acc, b, out);
  } else if (out.quantized()) {
    epilogue_block_quantized(acc, b, out);
  } else {
    epilogue_block_float(acc, b, out);
  }
}

void epilogue_any(const void* acc, bool acc_is_float, int64_t tile, int channels, int64_t first,
                  int64_t last, int pitch, int out_width, const float* scales, const float* bias,
                  Activation activation, const EpilogueOutput& out) {
  const EpilogueBlock block{tile,      channels, first, last,      pitch,
                            out_width, scales,   bias,  activation};
  if (acc_is_float) {
    epilogue_block(static_cast<const float*>(acc), block, out);
  } else {
    epilogue_block(static_cast<const int32_t*>(acc), block, out);
  }
}

// A2: a fused residual's activation (kResidual), the range's rule then.
template <Activation A, Activation A2, bool kResidual>
void epilogue_channels_loop(const int32_t* acc, int tile, int pixels, int channels,
                            const float* scales, const float* bias, const EpilogueOutput& out) {
  alignas(64) float chunk[kQuantizeChunk];
  // Read once: stores through `dst` might alias `out` as far as the compiler knows.
  const bool quantized = out.quantized();
  const int64_t plane = out.plane;
  const float* const res = out.residual;
  const bool residual_first = out.residual_first;
  RangeSink<kResidual ? A2 : A> range(out.range);
  for (int c = 0; c < channels; ++c) {
    const int32_t* column = acc + (c / 16) * tile * 16 + c % 16;
    const int64_t at = c * plane;
    for (int p0 = 0; p0 < pixels; p0 += static_cast<int>(kQuantizeChunk)) {
      const int n = std::min(pixels - p0, static_cast<int>(kQuantizeChunk));
      float* dst = quantized ? chunk : static_cast<float*>(out.data) + at + p0;
      for (int p = 0; p < n; ++p) {
        float y = __builtin_fmaf(static_cast<float>(column[(p0 + p) * 16]), scales[c], bias[c]);
        y = apply_activation(y, A);  // A is a constant: the switch folds away
        if constexpr (kResidual) y = residual_value<A2>(y, res[at + p0 + p], residual_first);
        dst[p] = y;
      }
      if (quantized) {
        quantize_values(chunk, n, out, static_cast<uint8_t*>(out.data) + at + p0);
      } else if (range.active()) {
        range.add_written(dst, n);
      }
    }
  }
}

#if defined(__AVX512F__)
// The tile holds, per block of 16 output channels, one vector of the 16
// channels per pixel. Up to 16 such pixel vectors, turned by the 16 x 16
// transpose into one vector of pixels per channel: epilogue_vector, one
// masked store (of f32, or of the quantize kernel's bytes). (A gather of each
// channel's column took as long as 19 cycles a vector on a Zen 5 core, a
// tenth of a ResNet-18 k = 9 layer's time.)
template <Activation A, Activation A2, bool kResidual>
void epilogue_channels_avx512(const int32_t* acc, int tile, int pixels, int channels,
                              const float* scales, const float* bias, const EpilogueOutput& out) {
  const QuantizedStore<ArchAvx512> to_bytes(out.quantize);
  // Read once: the stores below go through pointers the compiler cannot
  // tell apart from `out`, so it would reload its fields after every store.
  const bool quantized = out.quantized();
  const int64_t plane = out.plane;
  void* const data = out.data;
  const float* const res = out.residual;
  const bool residual_first = out.residual_first;
  RangeSink<kResidual ? A2 : A> range(out.range);
  for (int p0 = 0; p0 < pixels; p0 += 16) {
    const int n = std::min(16, pixels - p0);
    const __mmask16 m = lanes_mask(n);
    for (int c0 = 0; c0 < channels; c0 += 16) {
      const int32_t* block = acc + static_cast<int64_t>(c0 / 16) * tile * 16 + p0 * 16;
      __m512i rows[16];
#pragma GCC unroll 16
      for (int p = 0; p < 16; ++p) {
        rows[p] = p < n ? _mm512_loadu_si512(block + p * 16) : _mm512_setzero_si512();
      }
      transpose_16x16(rows);  // rows[c]: channel c0 + c at the 16 pixels
      const int count = std::min(16, channels - c0);
      for (int c = 0; c < count; ++c) {
        __m512 y = epilogue_vector<A>(_mm512_cvtepi32_ps(rows[c]), _mm512_set1_ps(scales[c0 + c]),
                                      _mm512_set1_ps(bias[c0 + c]));
        const int64_t at = (c0 + c) * plane + p0;
        if constexpr (kResidual) {
          y = residual_vector<A2>(y, _mm512_maskz_loadu_ps(m, res + at), residual_first);
        }
        if (quantized) {
          to_bytes.store_lanes(y, m, static_cast<uint8_t*>(data) + at);
        } else {
          _mm512_mask_storeu_ps(static_cast<float*>(data) + at, m, y);
          if (range.active()) range.add(y, m);
        }
      }
    }
  }
}
#endif

void epilogue_channels_any(const int32_t* acc, int tile, int pixels, int channels,
                           const float* scales, const float* bias, Activation activation,
                           const EpilogueOutput& out) {
  auto run = [&](auto a, auto a2, auto residual) {
#if defined(__AVX512F__)
    epilogue_channels_avx512<a(), a2(), residual()>(acc, tile, pixels, channels, scales, bias, out);
#else
    epilogue_channels_loop<a(), a2(), residual()>(acc, tile, pixels, channels, scales, bias, out);
#endif
  };
  with_activation(activation, [&](auto a) {
    if (out.residual == nullptr) return run(a, a, std::false_type{});
    with_activation(out.residual_activation, [&](auto a2) { run(a, a2, std::true_type{}); });
  });
}

constexpr StagingEpilogue kLaneOps{&stage_f32_any, &stage_quad_any, &epilogue_any,
                                   &epilogue_channels_any};

}  // namespace
}  // namespace sparq::kernels::sparse3x3
