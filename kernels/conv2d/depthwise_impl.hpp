// Depthwise planes written once; Arch is an xsimd architecture, or
// ScalarDepthwise for the plain loops (which also finish every vector row).
#pragma once

#include <algorithm>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "kernels/common/activation.hpp"
#include "kernels/common/activation_simd.hpp"
#include "kernels/common/byte_activation.hpp"
#include "kernels/common/inside_range.hpp"
#include "kernels/common/lane_masks.hpp"
#include "kernels/common/simd_arch.hpp"
#include "kernels/conv2d/depthwise.hpp"
#include "sparq/quantization.hpp"

namespace sparq::kernels {
namespace {

struct ScalarDepthwise {};

// Zeroed elements after the phase planes: the last vector of a row may read
// up to a vector past the row (its extra lanes are computed and dropped), so
// the vector loop needs no scalar tail.
constexpr int64_t kPhaseSlack = 64;

// Stores the first `count` lanes of v (all of them when count >= size).
template <class Batch>
inline void store_prefix(const Batch& v, float* dst, int64_t count) {
  if (count >= static_cast<int64_t>(Batch::size)) {
    v.store_unaligned(dst);
    return;
  }
  store_first(v, dst, count);
}

struct PhaseShape {
  int64_t rows, width;
  explicit PhaseShape(const ConvGeometry& g)
      : rows((g.out_h - 1) * g.stride_h + g.kernel_h),
        width(g.out_w + (g.kernel_w - 1) / g.stride_w) {}
};

// The plane scratch: fp32-sized phases and their slack, then one input row
// as 16-bit values (stride-2 gathers), in floats.
inline int64_t phase_scratch_floats(const ConvGeometry& g, const PhaseShape& s) {
  return g.stride_w * s.rows * s.width + kPhaseSlack;
}
inline int64_t row16_scratch_floats(const ConvGeometry& g) {
  return (g.in_w + kPhaseSlack + 1) / 2;
}

// One vector of T (fp32 or 16-bit lanes) widened from the bytes at p by
// Loads, the WideningLoads of some ISA.
template <class Loads, typename T, typename In>
inline auto widen_bytes(const In* p) {
  const auto* s8 = reinterpret_cast<const int8_t*>(p);
  const auto* u8 = reinterpret_cast<const uint8_t*>(p);
  if constexpr (std::is_same_v<T, float>) {
    return std::is_signed_v<In> ? Loads::s8(s8) : Loads::u8(u8);
  } else {
    return std::is_signed_v<In> ? Loads::s8_as_s16(s8) : Loads::u8_as_s16(u8);
  }
}

// dst[j] = src[j] for j < n, n >= kLanes: a vector of kLanes at a time, the
// last overlapping the one before, so there is no scalar tail.
template <class Loads, int64_t kLanes, typename T, typename In>
inline void convert_vectors(const In* __restrict src, T* __restrict dst, int64_t n) {
  for (int64_t j = 0;; j += kLanes) {
    j = std::min(j, n - kLanes);
    widen_bytes<Loads, T>(src + j).store_unaligned(dst + j);
    if (j == n - kLanes) return;
  }
}

// dst[j] = src[j] for j < n. Vector ISAs convert bytes a vector at a time;
// rows shorter than a vector (28 columns against 32 16-bit lanes, 14
// against 16 fp32 lanes) take AVX2's half-width vectors; only rows shorter
// than that stay scalar.
template <class Arch, typename T, typename In>
inline void convert_run(const In* __restrict src, T* __restrict dst, int64_t n) {
  if constexpr (!std::is_same_v<Arch, ScalarDepthwise> && sizeof(In) == 1 &&
                (std::is_same_v<T, float> || std::is_same_v<T, int16_t>)) {
    constexpr int64_t kLanes = xsimd::batch<T, Arch>::size;
    if (n >= kLanes) {
      convert_vectors<WideningLoads<Arch>, kLanes>(src, dst, n);
      return;
    }
    if constexpr (!std::is_same_v<Arch, ArchAvx2>) {
      if (n >= kLanes / 2) {
        // Dependent on T, so files without AVX2 never instantiate it.
        using Half = WideningLoads<std::conditional_t<sizeof(T) != 0, ArchAvx2, Arch>>;
        convert_vectors<Half, kLanes / 2>(src, dst, n);
        return;
      }
    }
  }
  for (int64_t j = 0; j < n; ++j) dst[j] = static_cast<T>(src[j]);
}

// dst[0, lo) = dst[hi, n) = 0, before dst[lo, hi) is written. Vector ISAs
// use one vector store per edge where the edges fit one (padding of 1 or 2
// columns); it may run past n into the caller's next row (built after this
// one) or the kPhaseSlack after the last. Zeroing the whole row first cost a
// memset call per row: 6 % of a 14x14 layer.
template <class Arch, typename T>
inline void zero_edges(T* dst, int64_t lo, int64_t hi, int64_t n) {
  if constexpr (std::is_same_v<Arch, ScalarDepthwise>) {
    std::fill(dst, dst + lo, T(0));
    std::fill(dst + hi, dst + n, T(0));
  } else {
    using Batch = xsimd::batch<T, Arch>;
    constexpr auto kLanes = static_cast<int64_t>(Batch::size);
    static_assert(kLanes <= kPhaseSlack);
    if (lo > kLanes || n - hi > kLanes) {
      std::fill(dst, dst + n, T(0));
      return;
    }
    if (lo > 0) Batch(T(0)).store_unaligned(dst);
    if (hi < n) Batch(T(0)).store_unaligned(dst + hi);
  }
}

// dst[j] = the input row's column 2 j + first_x for j in [lo, hi), hi - lo at
// least one vector of T: the row widened once into `row16` (in_w +
// kPhaseSlack values), then its even lanes, the last vector overlapping the
// one before so that no padding column is written.
template <class Arch, typename T, typename In>
void gather_stride2(const In* row, int64_t in_w, int64_t first_x, int64_t lo, int64_t hi,
                    int16_t* row16, T* dst) {
  constexpr int64_t kLanes = xsimd::batch<T, Arch>::size;
  convert_run<Arch>(row, row16, in_w);
  // base[2 j] is column 2 j + first_x; reads reach column 2 hi - 1 + first_x
  // <= in_w, one value past the row, which lands in an odd (dropped) lane.
  const int16_t* base = row16 + first_x;
  for (int64_t j = lo;; j += kLanes) {
    j = std::min(j, hi - kLanes);
    if constexpr (std::is_same_v<T, int16_t>) {
      EvenLanes<Arch>::s16(base + 2 * j).store_unaligned(dst + j);
    } else {
      EvenLanes<Arch>::f32(base + 2 * j).store_unaligned(dst + j);
    }
    if (j == hi - kLanes) return;
  }
}

#if defined(__AVX512BW__)
// gather_stride2 on AVX-512, for rows of any width, without the 16-bit row
// copy: each vector's 2 x lanes bytes are loaded as 16-bit words (a masked
// load: never a byte past the row), the low byte of each word, the even
// column, is widened in place, and a short last vector is a masked store.
// Reading the copy back at an odd offset of its stores cost a failed
// store-to-load forward per vector, most of a stride-2 plane's time.
template <typename T, typename In>
void gather_stride2_avx512(const In* row, int64_t in_w, int64_t first_x, int64_t lo, int64_t hi,
                           T* dst) {
  constexpr int64_t kLanes = xsimd::batch<T, ArchAvx512>::size;
  for (int64_t j = lo; j < hi; j += kLanes) {
    const int64_t lanes = std::min(kLanes, hi - j);
    const int64_t at = 2 * j + first_x;                              // >= 0: j >= lo
    const int64_t bytes = std::min<int64_t>(2 * kLanes, in_w - at);  // >= 1: column at is inside
    const uint64_t load_mask = first_lanes(bytes);
    const uint64_t store_mask = first_lanes(lanes);
    if constexpr (std::is_same_v<T, int16_t>) {
      const __m512i words = _mm512_maskz_loadu_epi8(load_mask, row + at);
      const __m512i even = std::is_signed_v<In> ? _mm512_srai_epi16(_mm512_slli_epi16(words, 8), 8)
                                                : _mm512_and_si512(words, _mm512_set1_epi16(0xFF));
      _mm512_mask_storeu_epi16(dst + j, static_cast<__mmask32>(store_mask), even);
    } else {
      const __m256i pairs = _mm256_maskz_loadu_epi8(static_cast<__mmask32>(load_mask), row + at);
      const __m512i words = _mm512_cvtepu16_epi32(pairs);
      const __m512i even = std::is_signed_v<In>
                               ? _mm512_srai_epi32(_mm512_slli_epi32(words, 24), 24)
                               : _mm512_and_si512(words, _mm512_set1_epi32(0xFF));
      _mm512_mask_storeu_ps(dst + j, static_cast<__mmask16>(store_mask), _mm512_cvtepi32_ps(even));
    }
  }
}
#endif

// phases[ph][y][j] = padded[y][j * stride_w + ph], as T. The columns inside
// the input are found once per phase, so each row is a zeroing (where it has
// padding) and a converting copy or gather.
template <class Arch, typename T, typename In>
void build_phases(const In* in, const ConvGeometry& g, T* phases) {
  const PhaseShape s(g);
  // Stride-2 rows from integer inputs are gathered (except on AVX-512) from
  // a 16-bit copy of the input row, after the phases.
  auto* row16 =
      reinterpret_cast<int16_t*>(reinterpret_cast<float*>(phases) + phase_scratch_floats(g, s));
  for (int64_t ph = 0; ph < g.stride_w; ++ph) {
    const int64_t first_x = ph - g.pad_w;  // input column of j = 0
    const auto [lo, hi] = inside_range(s.width, g.stride_w, first_x, g.in_w);
    for (int64_t y = 0; y < s.rows; ++y) {
      // restrict: a uint8_t source may alias anything, which would keep the
      // converting copy scalar.
      T* __restrict dst = phases + (ph * s.rows + y) * s.width;
      const int64_t iy = y - g.pad_h;
      if (iy < 0 || iy >= g.in_h) {
        std::fill(dst, dst + s.width, T(0));
        continue;
      }
      const In* __restrict src = in + iy * g.in_w + first_x;
      zero_edges<Arch>(dst, lo, hi, s.width);
      if (g.stride_w == 1) {
        convert_run<Arch>(src + lo, dst + lo, hi - lo);
        continue;
      }
      if constexpr (!std::is_same_v<Arch, ScalarDepthwise> && sizeof(In) == 1) {
#if defined(__AVX512BW__)
        if constexpr (std::is_same_v<Arch, ArchAvx512>) {
          if (g.stride_w == 2) {
            gather_stride2_avx512(in + iy * g.in_w, g.in_w, first_x, lo, hi, dst);
            continue;
          }
        }
#endif
        if (g.stride_w == 2 && hi - lo >= static_cast<int64_t>(xsimd::batch<T, Arch>::size)) {
          gather_stride2<Arch>(in + iy * g.in_w, g.in_w, first_x, lo, hi, row16, dst);
          continue;
        }
      }
      for (int64_t j = lo; j < hi; ++j) dst[j] = static_cast<T>(src[j * g.stride_w]);
    }
  }
}

// Calls visit(t, run) for every kernel tap t = ky * kernel_w + kx of output
// row oy, with `run` the contiguous inputs of that tap (phase kx % stride_w,
// shifted by kx / stride_w), without a division in the loop.
template <typename T, typename Visit>
inline void for_each_tap(const T* phases, const ConvGeometry& g, const PhaseShape& s, int64_t oy,
                         const Visit& visit) {
  const int64_t phase_stride = s.rows * s.width;
  int64_t t = 0;
  for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
    const T* row = phases + (oy * g.stride_h + ky) * s.width;
    int64_t phase = 0, shift = 0;
    for (int64_t kx = 0; kx < g.kernel_w; ++kx, ++t) {
      visit(t, row + phase * phase_stride + shift);
      if (++phase == g.stride_w) {
        phase = 0;
        ++shift;
      }
    }
  }
}

// The largest |partial sum| of a quantized plane's pixel: sum |w| x the
// largest input, 255 (u8) or 128 (s8).
inline int64_t partial_sum_bound(const int32_t* weights, int64_t taps, int64_t max_input) {
  int64_t bound = 0;
  for (int64_t t = 0; t < taps; ++t) bound += (weights[t] < 0 ? -int64_t{weights[t]} : weights[t]);
  return bound * max_input;
}
// 16-bit lanes hold every partial sum up to 2^15 - 1 exactly (3x3 4-bit
// kernels: at most 72 x 255 = 18360): twice the lanes of fp32 per vector.
// fp32 holds every integer up to 2^24 exactly.
constexpr int64_t kExactInt16 = (int64_t{1} << 15) - 1;
constexpr int64_t kExactFloat = int64_t{1} << 24;

// Offsets of every tap's run from the phases' row oy * stride_h (for_each_tap's
// addresses, computed once per plane).
template <typename T>
inline void tap_offsets(const T* phases, const ConvGeometry& g, const PhaseShape& s,
                        int64_t* offsets) {
  for_each_tap(phases, g, s, 0, [&](int64_t t, const T* run) { offsets[t] = run - phases; });
}

// Kernels up to 8x8 take the vector path of quantized planes.
constexpr int64_t kMaxVectorTaps = 64;

template <class Arch>
struct Depthwise {
  static constexpr bool kVector = !std::is_same_v<Arch, ScalarDepthwise>;
  static constexpr int kMaxRowVecs = 4;  // output vectors of one row per block
  static constexpr int kBlockVecs = 8;   // accumulators per block: rows x row vectors

  // Output pixels [ox, ox + count) of R rows starting at phases row `row`
  // (count <= NV vectors of T lanes): each tap is one weight broadcast and
  // R x NV loads of its runs, multiply-added exactly (fp32 FMA or 16-bit
  // integer lanes, see kExactFloat / kExactInt16; the R x NV independent
  // sums hide the latency), then dequantized like dequantize_accumulator.
  template <typename T, int NV, int R>
  static void quant_rows(const T* row, int64_t row_step, const int64_t* offsets, const T* weights,
                         int64_t taps, const DepthwiseQuantArgs& a, int64_t count, float* dst,
                         int64_t dst_step) {
    using Sum = xsimd::batch<T, Arch>;
    using Float = xsimd::batch<float, Arch>;
    constexpr int64_t kLanes = Sum::size;
    Sum acc[R][NV];
    for (int r = 0; r < R; ++r) {
      for (int v = 0; v < NV; ++v) acc[r][v] = Sum(T(0));
    }
    for (int64_t t = 0; t < taps; ++t) {
      const Sum w(weights[t]);
      // Unrolled early, so that the accumulators become registers.
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const T* run = row + r * row_step + offsets[t];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          const Sum x = Sum::load_unaligned(run + v * kLanes);
          if constexpr (std::is_same_v<T, float>) {
            acc[r][v] = fused_multiply_add(x, w, acc[r][v]);
          } else {
            acc[r][v] = acc[r][v] + x * w;
          }
        }
      }
    }
    const Float scale(a.act_scale * a.weight_scale), bias(a.bias);
    // By value: an accumulator whose address escapes stays in memory.
    auto finish = [&](Float sum, float* out, int64_t lanes) {
      const Float y = fused_multiply_add(sum, scale, bias);
      store_prefix(apply_activation<Arch>(y, a.activation), out, lanes);
    };
    for (int r = 0; r < R; ++r) {
      for (int v = 0; v < NV; ++v) {
        float* out = dst + r * dst_step + v * kLanes;
        const int64_t lanes = count - v * kLanes;
        const Sum sum = acc[r][v];
        if constexpr (std::is_same_v<T, float>) {
          finish(sum, out, lanes);
        } else {
          // Widened through L1: xsimd 8.1 has no 16 -> 32-bit lane conversion.
          alignas(64) int16_t sums[kLanes];
          sum.store_aligned(sums);
          for (int64_t h = 0; h < kLanes && h < lanes; h += Float::size) {
            finish(WideningLoads<Arch>::s16(sums + h), out + h, lanes - h);
          }
        }
      }
    }
  }

  // Every output row of columns [ox, ox + count), count <= NV vectors.
  template <typename T, int NV>
  static void quant_columns(const T* phases, const ConvGeometry& g, const PhaseShape& shape,
                            const int64_t* offsets, const T* weights, int64_t taps,
                            const DepthwiseQuantArgs& a, int64_t ox, int64_t count, float* out) {
    constexpr int kRows = kBlockVecs / NV;
    const int64_t row_step = g.stride_h * shape.width;
    int64_t oy = 0;
    auto rows = [&]<int R>() {
      for (; oy + R <= g.out_h; oy += R) {
        quant_rows<T, NV, R>(phases + oy * row_step + ox, row_step, offsets, weights, taps, a,
                             count, out + oy * g.out_w + ox, g.out_w);
      }
    };
    rows.template operator()<kRows>();
    // The last rows in blocks of 4 and 2 where they fit: a lone row's sums
    // are one dependent chain per vector.
    if constexpr (kRows > 4) rows.template operator()<4>();
    if constexpr (kRows > 2) rows.template operator()<2>();
    rows.template operator()<1>();
  }

  // The vector path of a quantized plane with sums in T lanes.
  template <typename T, typename In>
  static void plane_quant_vector(const In* in, const ConvGeometry& g, const DepthwiseQuantArgs& a,
                                 float* out, float* scratch) {
    constexpr int64_t kLanes = xsimd::batch<T, Arch>::size;
    T* phases = reinterpret_cast<T*>(scratch);
    build_phases<Arch, T>(in, g, phases);
    const PhaseShape shape(g);  // once per plane: it divides
    const int64_t taps = g.kernel_h * g.kernel_w;
    int64_t offsets[kMaxVectorTaps];
    T weights[kMaxVectorTaps];
    tap_offsets(phases, g, shape, offsets);
    for (int64_t t = 0; t < taps; ++t) weights[t] = static_cast<T>(a.weights[t]);
    for (int64_t ox = 0; ox < g.out_w; ox += kMaxRowVecs * kLanes) {
      const int64_t count = std::min<int64_t>(g.out_w - ox, kMaxRowVecs * kLanes);
      switch ((count + kLanes - 1) / kLanes) {
        case 1:
          quant_columns<T, 1>(phases, g, shape, offsets, weights, taps, a, ox, count, out);
          break;
        case 2:
          quant_columns<T, 2>(phases, g, shape, offsets, weights, taps, a, ox, count, out);
          break;
        case 3:
          quant_columns<T, 3>(phases, g, shape, offsets, weights, taps, a, ox, count, out);
          break;
        default:
          quant_columns<T, 4>(phases, g, shape, offsets, weights, taps, a, ox, count, out);
          break;
      }
    }
  }

  template <typename In>
  static void plane_quant(const In* in, const ConvGeometry& g, const DepthwiseQuantArgs& a,
                          float* out, float* scratch) {
    const int64_t taps = g.kernel_h * g.kernel_w;
    const int64_t bound =
        partial_sum_bound(a.weights, taps, max_abs_byte_activation(std::is_signed_v<In>));
    if constexpr (kVector) {
      // 16-bit lanes only where they make fewer vectors per row than fp32's
      // (rows wider than one fp32 vector): a 16-bit multiply and add cost
      // about what one FMA does.
      constexpr int64_t kFloatLanes = xsimd::batch<float, Arch>::size;
      if (taps <= kMaxVectorTaps && bound <= kExactInt16 && g.out_w > kFloatLanes) {
        plane_quant_vector<int16_t>(in, g, a, out, scratch);
        return;
      }
      if (taps <= kMaxVectorTaps && bound <= kExactFloat) {
        plane_quant_vector<float>(in, g, a, out, scratch);
        return;
      }
    }
    // Scalar, or sums too large for the vector paths: int32 accumulation,
    // one pixel at a time.
    build_phases<Arch, float>(in, g, scratch);
    const PhaseShape shape(g);
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      float* dst = out + oy * g.out_w;
      for (int64_t ox = 0; ox < g.out_w; ++ox) {
        int32_t acc = 0;
        for_each_tap(scratch, g, shape, oy, [&](int64_t t, const float* run) {
          acc += static_cast<int32_t>(run[ox]) * a.weights[t];
        });
        dst[ox] = apply_activation(dequantize_accumulator(acc, a.act_scale, a.weight_scale, a.bias),
                                   a.activation);
      }
    }
  }

  static void plane_u8(const uint8_t* in, const ConvGeometry& g, const DepthwiseQuantArgs& a,
                       float* out, float* scratch) {
    plane_quant(in, g, a, out, scratch);
  }
  static void plane_s8(const int8_t* in, const ConvGeometry& g, const DepthwiseQuantArgs& a,
                       float* out, float* scratch) {
    plane_quant(in, g, a, out, scratch);
  }

  static void plane_f32(const float* in, const ConvGeometry& g, const float* weights, float bias,
                        Activation activation, float* out, float* scratch) {
    build_phases<Arch, float>(in, g, scratch);
    const PhaseShape shape(g);  // once per plane: it divides
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      float* dst = out + oy * g.out_w;
      int64_t ox = 0;
      if constexpr (kVector) {
        using Float = xsimd::batch<float, Arch>;
        constexpr int64_t kLanes = Float::size;
        for (; ox < g.out_w; ox += kLanes) {
          Float acc(0.0f);
          for_each_tap(scratch, g, shape, oy, [&](int64_t t, const float* run) {
            acc = acc + Float::load_unaligned(run + ox) * Float(weights[t]);
          });
          store_prefix(apply_activation<Arch>(acc + Float(bias), activation), dst + ox,
                       g.out_w - ox);
        }
      }
      for (; ox < g.out_w; ++ox) {
        float acc = 0.0f;
        for_each_tap(scratch, g, shape, oy,
                     [&](int64_t t, const float* run) { acc += run[ox] * weights[t]; });
        dst[ox] = apply_activation(acc + bias, activation);
      }
    }
  }

  static DepthwiseKernels table(Isa isa) {
    return {isa, &plane_u8, &plane_s8, &plane_f32};
  }
};

}  // namespace
}  // namespace sparq::kernels
