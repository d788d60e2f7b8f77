// Vector bodies of the quantize kernels (xsimd), instantiated per ISA.
#pragma once

#include <cfloat>
#include <iterator>
#include <type_traits>

#include "kernels/common/simd_arch.hpp"
#include "kernels/quantize/quantize.hpp"
#include "kernels/quantize/quantize_scalar_rule.hpp"

namespace sparq::kernels {
namespace {

// Narrows int32 lanes already inside [-128, 255] to bytes (low byte of each).
inline void store_low_bytes(xsimd::batch<int32_t, ArchAvx2> v, void* out) {
  const __m256i words = _mm256_packs_epi32(v, v);  // in range: no saturation
  const __m256i bytes = _mm256_shuffle_epi8(
      words, _mm256_setr_epi8(0, 2, 4, 6, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 2, 4,
                              6, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1));
  const __m128i joined =
      _mm_unpacklo_epi32(_mm256_castsi256_si128(bytes), _mm256_extracti128_si256(bytes, 1));
  _mm_storel_epi64(static_cast<__m128i*>(out), joined);
}

#if defined(__AVX512F__)
inline void store_low_bytes(xsimd::batch<int32_t, ArchAvx512> v, void* out) {
  _mm_storeu_si128(static_cast<__m128i*>(out), _mm512_cvtepi32_epi8(v));
}

// Four vectors of int32 lanes already inside the byte range of their sign
// ([0, 255], or [-128, 127] when kSigned) as 64 bytes in order: two packs
// (saturating, so exact in range) and one permute restoring the order, where
// a narrowing store per vector costs two shuffles each.
template <bool kSigned>
void store_bytes4(const xsimd::batch<int32_t, ArchAvx512> (&v)[4], void* out) {
  __m512i bytes;
  if constexpr (kSigned) {
    bytes = _mm512_packs_epi16(_mm512_packs_epi32(v[0], v[1]), _mm512_packs_epi32(v[2], v[3]));
  } else {
    bytes = _mm512_packus_epi16(_mm512_packus_epi32(v[0], v[1]), _mm512_packus_epi32(v[2], v[3]));
  }
  // 128-bit lane L holds 4 bytes of each vector in turn: dword 4 L + k is
  // vector k's bytes 4 L .. 4 L + 3.
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  _mm512_storeu_si512(out, _mm512_permutexvar_epi32(order, bytes));
}
#endif

// vfpclassps categories: QNaN, +infinity, -infinity, SNaN.
constexpr int kNonFinite = 0x01 | 0x08 | 0x10 | 0x80;

// Rounds float lanes to int32 in the current rounding mode (nearest even
// unless changed), the mode std::nearbyint uses; lanes are within int32.
inline xsimd::batch<int32_t, ArchAvx2> round_to_int(xsimd::batch<float, ArchAvx2> v) {
  return _mm256_cvtps_epi32(v);
}
#if defined(__AVX512F__)
inline xsimd::batch<int32_t, ArchAvx512> round_to_int(xsimd::batch<float, ArchAvx512> v) {
  return _mm512_cvtps_epi32(v);
}
#endif

template <class Arch>
struct Quantize {
  using Batch = xsimd::batch<float, Arch>;
  static constexpr size_t kLanes = Batch::size;

  // Comparisons with NaN are false, and the bounds exclude infinities.
  static void widen(Batch v, Batch& high, Batch& low) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<Arch, ArchAvx512>) {
      // The finite lanes (vfpclassps: not NaN, not an infinity) through
      // maxps / minps, which return their second operand, the running end,
      // on a tie: -0 never replaces the +0 a range starts from, as with the
      // strict comparisons. Three instructions instead of six.
      const __mmask16 finite = _knot_mask16(_mm512_fpclass_ps_mask(v, kNonFinite));
      high = _mm512_mask_max_ps(high, finite, v, high);
      low = _mm512_mask_min_ps(low, finite, v, low);
      return;
    }
#endif
    const Batch largest(FLT_MAX), lowest(-FLT_MAX);
    high = xsimd::select((v > high) & (v <= largest), v, high);
    low = xsimd::select((v < low) & (v >= lowest), v, low);
  }

  // Four independent (high, low) pairs, so consecutive vectors do not wait
  // on one compare-and-select chain. The fold is order-free: a range starts
  // at +0 and only strictly larger (smaller) finite values replace its ends,
  // so they end as the largest and smallest values, whose bits are unique
  // (no -0 can enter).
  static void fold_range(const float* x, size_t count, SampleRange& range) {
    constexpr int kChains = 4;
    Batch high[kChains], low[kChains];
    for (int c = 0; c < kChains; ++c) {
      high[c] = Batch(range.max);
      low[c] = Batch(range.min);
    }
    size_t j = 0;
    for (; j + kChains * kLanes <= count; j += kChains * kLanes) {
      for (int c = 0; c < kChains; ++c)
        widen(Batch::load_unaligned(x + j + c * kLanes), high[c], low[c]);
    }
    for (; j + kLanes <= count; j += kLanes) widen(Batch::load_unaligned(x + j), high[0], low[0]);
    // The chains hold finite values only: folding them into chain 0 first
    // leaves one vector pair for the scalar rule (a short span's cost).
    for (int c = 1; c < kChains; ++c) {
      widen(high[c], high[0], low[0]);
      widen(low[c], high[0], low[0]);
    }
    fold_lanes(high[0], low[0], range);
    scalar_rule::fold_range(x + j, count - j, range);
  }

  // Widens `range` by the lanes of a (high, low) pair that widen() built.
  static void fold_lanes(Batch high, Batch low, SampleRange& range) {
    alignas(64) float lanes[2][kLanes];
    high.store_aligned(lanes[0]);
    low.store_aligned(lanes[1]);
    scalar_rule::fold_range(lanes[0], 2 * kLanes, range);
  }

  // v / scale rounded to the nearest float, as the divide instruction
  // gives it, wherever the rule below can tell the difference, without the
  // divider (on a Xeon core a 56x56x64 quantize took 37 us with vdivps).
  // v is first clamped to +-2^20 scale (a NaN stays NaN): beyond, the rule
  // clamps either way, and no product below overflows. q0 = v * r with
  // r = RN(1 / scale) is within 2 ulps of v / scale; each step
  // q + (v - q * scale) * r, whose residual one FMA gives exactly, corrects
  // it, and by Markstein's theorem the second step, from a quotient within
  // 1 ulp, rounds to RN(v / scale) itself. The one exception, lanes whose
  // residual underflows, have |v / scale| < 2^-20 while the scale lies in
  // [2^-100, 2^100] (both round to 0); other scales divide. (Checked
  // against vdivps for every float v with |v / scale| <= 300 at 14 scales:
  // the same integers.)
  class Quotient {
   public:
    // The product's factor, RN(1 / scale), and near_half's bound on the
    // distance to an integer, as scalars for the kernels that read them as
    // embedded broadcasts (register_epilogue_avx512.hpp).
    static float reciprocal_of(float scale) { return 1.0f / scale; }
    static constexpr float kNearHalf = 0.5f - 0x1p-12f;

    explicit Quotient(float scale)
        : scale_(scale),
          reciprocal_(reciprocal_of(scale)),
          bound_(0x1p20f * scale),
          divide_(!(scale >= 0x1p-100f && scale <= 0x1p100f)) {}

    Batch operator()(Batch v) const {
      if (divide_) return v / scale_;
      // maxps / minps return their second operand for a NaN: v, then v.
      v = xsimd::min(bound_, xsimd::max(-bound_, v));
      const Batch q0 = v * reciprocal_;
      const Batch q1 =
          fused_multiply_add(fused_negated_multiply_add(q0, scale_, v), reciprocal_, q0);
      return fused_multiply_add(fused_negated_multiply_add(q1, scale_, v), reciprocal_, q1);
    }

#if defined(__AVX512F__)
    // Whether v * RN(1 / scale), clamped into [lowest, highest] (`clamped`,
    // integer bounds), rounds to the integer RN(v / scale) rounds to in every
    // lane: true unless a lane lies within 2^-12 of a half-integer. The
    // product is within |v / scale| 2^-23 (1 + 2^-24) of v / scale, and
    // RN(v / scale) within half an ulp, so inside the clamp range (|q| <
    // 256) both lie within 2^-14 of the product; beyond a bound the clamp
    // decides either way, and the clamped bound itself is an integer. Where
    // the scale divides (divide_), callers take operator() directly.
    bool rounds_like_quotient(Batch clamped) const {
      return near_half(clamped) == 0;
    }
    // The lanes of `clamped` within 2^-12 of a half-integer: those whose
    // rounding the product may get wrong.
    static __mmask16 near_half(Batch clamped) {
      static_assert(std::is_same_v<Arch, ArchAvx512>);
      // clamped - nearbyint(clamped), exactly, in [-0.5, 0.5].
      const __m512 fraction = _mm512_reduce_ps(clamped, _MM_FROUND_TO_NEAREST_INT);
      return _mm512_cmp_ps_mask(_mm512_abs_ps(fraction), _mm512_set1_ps(kNearHalf), _CMP_GE_OQ);
    }
    // The lanes near_half flags in any of N vectors, in one comparison:
    // vrangeps keeps the larger magnitude of two fractions (sign cleared).
    // A NaN fraction (none arises: callers pass clamped or non-negative
    // estimates, and vreduceps gives +0 for an infinity) would pass through
    // and count as near, sending the vectors to the exact path instead of
    // hiding the other vectors' lanes.
    template <int N>
    static __mmask16 near_half_n(const Batch (&estimate)[N]) {
      static_assert(std::is_same_v<Arch, ArchAvx512>);
      if constexpr (N == 1) return near_half(estimate[0]);
      __m512 largest = _mm512_reduce_ps(estimate[0], _MM_FROUND_TO_NEAREST_INT);
#pragma GCC unroll 16
      for (int i = 1; i < N; ++i) {
        largest = _mm512_range_ps(largest, _mm512_reduce_ps(estimate[i], _MM_FROUND_TO_NEAREST_INT),
                                  0x0b);
      }
      return _mm512_cmp_ps_mask(largest, _mm512_set1_ps(kNearHalf), _CMP_NLT_UQ);
    }
    Batch product(Batch v) const {
      return v * reciprocal_;
    }
    bool divides() const {
      return divide_;
    }
#endif

   private:
    Batch scale_, reciprocal_, bound_;
    bool divide_;
  };

  // q clamped to the byte range of the sign (NaN -> 0).
  static Batch clamp_quotient(Batch q, Batch highest, bool is_signed) {
    if (is_signed) {
      q = xsimd::select(xsimd::isnan(q), Batch(0.0f), q);
      return xsimd::min(xsimd::max(q, Batch(-127.0f)), highest);
    }
    return xsimd::min(xsimd::max(q, Batch(0.0f)), highest);
  }

  // clamp(nearbyint(v / scale), lowest, highest), NaN -> 0, as int32 lanes:
  // lowest is 0 (u8, u4), or -127 with highest 127 (s8). The bounds are
  // integers, so clamping before rounding gives the same integers, and the
  // conversion rounds (round_to_int). xsimd::max(q, 0) is maxps, which
  // returns 0 for a NaN q, the rule's answer; s8 zeroes its NaNs first.
  // On AVX-512 the product by the reciprocal stands in for the quotient
  // wherever it provably rounds alike (Quotient::rounds_like_quotient); a
  // lane fails with odds 2^-11 for values spread over the levels, so about
  // one vector in 128 takes the corrected quotient. (A 64x56x56 u8
  // quantize on a Xeon core: 29 us before, 23 us since.)
  static xsimd::batch<int32_t, Arch> round_clamp(Batch v, const Quotient& by_scale, Batch highest,
                                                 bool is_signed) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<Arch, ArchAvx512>) {
      if (!by_scale.divides()) {
        const Batch estimate = clamp_quotient(by_scale.product(v), highest, is_signed);
        if (by_scale.rounds_like_quotient(estimate)) return round_to_int(estimate);
      }
    }
#endif
    return round_to_int(clamp_quotient(by_scale(v), highest, is_signed));
  }

  // round_clamp of N vectors with one check for all of them (AVX-512): the
  // common case, no lane near a half-integer, takes one branch per N
  // vectors instead of one per vector. Same integers as round_clamp.
  template <int N>
  static void round_clamp_n(const Batch (&v)[N], const Quotient& by_scale, Batch highest,
                            bool is_signed, xsimd::batch<int32_t, Arch> (&q)[N]) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<Arch, ArchAvx512>) {
      if (!by_scale.divides()) {
        Batch estimate[N];
#pragma GCC unroll 16
        for (int i = 0; i < N; ++i) {
          estimate[i] = clamp_quotient(by_scale.product(v[i]), highest, is_signed);
        }
        if (Quotient::near_half_n(estimate) == 0) {
#pragma GCC unroll 16
          for (int i = 0; i < N; ++i) q[i] = round_to_int(estimate[i]);
          return;
        }
      }
    }
#endif
#pragma GCC unroll 16
    for (int i = 0; i < N; ++i) q[i] = round_clamp(v[i], by_scale, highest, is_signed);
  }

#if defined(__AVX512F__)
  // round_clamp_n for u8 with qmax 255 on lanes that are +0 or above and
  // never NaN (a ReLU's or ReLU6's output), for a narrowing with unsigned
  // saturation (vpmovusdb) after it: the product by the reciprocal is
  // checked and rounded without the clamp, and the narrowing takes every
  // lane above 255 to 255 as the clamp would, 0x80000000 included (the
  // conversion's answer for a product at or past 2^31, or +inf). The check
  // is the same: inside [0, 255] the product is the clamped one, a product
  // within 2^-12 of 255.5 falls back to round_clamp, and past it the
  // quotient also lies above 255.5 (the product is within |q| 2^-22 of it).
  // Same bytes as round_clamp_n, two instructions fewer a vector.
  template <int N>
  static void round_saturating_n(const Batch (&v)[N], const Quotient& by_scale,
                                 xsimd::batch<int32_t, Arch> (&q)[N]) {
    static_assert(std::is_same_v<Arch, ArchAvx512>);
    Batch estimate[N];
#pragma GCC unroll 16
    for (int i = 0; i < N; ++i) estimate[i] = by_scale.product(v[i]);
    if (Quotient::near_half_n(estimate) == 0) {
#pragma GCC unroll 16
      for (int i = 0; i < N; ++i) q[i] = round_to_int(estimate[i]);
      return;
    }
#pragma GCC unroll 16
    for (int i = 0; i < N; ++i) q[i] = round_clamp(v[i], by_scale, Batch(255.0f), false);
  }
#endif

  // Four vectors at a time through store_bytes4 where the ISA has it.
  template <bool kSigned>
  static size_t round_clamp_blocks(const float* x, size_t count, const Quotient& s, Batch highest,
                                   void* out) {
    size_t j = 0;
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<Arch, ArchAvx512>) {
      for (; j + 4 * kLanes <= count; j += 4 * kLanes) {
        const Batch v[4] = {Batch::load_unaligned(x + j), Batch::load_unaligned(x + j + kLanes),
                            Batch::load_unaligned(x + j + 2 * kLanes),
                            Batch::load_unaligned(x + j + 3 * kLanes)};
        xsimd::batch<int32_t, Arch> q[4];
        round_clamp_n(v, s, highest, kSigned, q);
        store_bytes4<kSigned>(q, static_cast<uint8_t*>(out) + j);
      }
    }
#endif
    return j;
  }

  static void to_u8(const float* x, size_t count, float scale, int qmax, uint8_t* out) {
    const Quotient s(scale);
    const Batch highest(static_cast<float>(qmax));
    size_t j = round_clamp_blocks<false>(x, count, s, highest, out);
    for (; j + kLanes <= count; j += kLanes) {
      store_low_bytes(round_clamp(Batch::load_unaligned(x + j), s, highest, false), out + j);
    }
    scalar_rule::to_u8(x + j, count - j, scale, qmax, out + j);
  }

  // to_u8 (qmax 255) of rectified values: on AVX-512 four vectors at a time
  // through round_saturating_n and a saturating narrowing each.
  static void to_u8_rectified(const float* x, size_t count, float scale, uint8_t* out) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<Arch, ArchAvx512>) {
      const Quotient s(scale);
      if (!s.divides()) {
        size_t j = 0;
        for (; j + 4 * kLanes <= count; j += 4 * kLanes) {
          const Batch v[4] = {Batch::load_unaligned(x + j), Batch::load_unaligned(x + j + kLanes),
                              Batch::load_unaligned(x + j + 2 * kLanes),
                              Batch::load_unaligned(x + j + 3 * kLanes)};
          xsimd::batch<int32_t, Arch> q[4];
          round_saturating_n(v, s, q);
          for (int i = 0; i < 4; ++i) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j + i * kLanes),
                             _mm512_cvtusepi32_epi8(q[i]));
          }
        }
        for (; j + kLanes <= count; j += kLanes) {
          const Batch v[1] = {Batch::load_unaligned(x + j)};
          xsimd::batch<int32_t, Arch> q[1];
          round_saturating_n(v, s, q);
          _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j), _mm512_cvtusepi32_epi8(q[0]));
        }
        scalar_rule::to_u8(x + j, count - j, scale, 255, out + j);
        return;
      }
    }
#endif
    to_u8(x, count, scale, 255, out);
  }

  static void to_s8(const float* x, size_t count, float scale, int8_t* out) {
    const Quotient s(scale);
    const Batch highest(127.0f);
    size_t j = round_clamp_blocks<true>(x, count, s, highest, out);
    for (; j + kLanes <= count; j += kLanes) {
      store_low_bytes(round_clamp(Batch::load_unaligned(x + j), s, highest, true), out + j);
    }
    scalar_rule::to_s8(x + j, count - j, scale, out + j);
  }

  // widen() over x into the first kLanes lanes of `lanes`, in fold_range's
  // four chains where x holds four vectors; the tail through the scalar rule
  // into lane 0.
  static void widen_lanes(const float* x, size_t count, RangeLanes& lanes) {
    static_assert(kLanes <= std::size(RangeLanes{}.high));
    constexpr int kChains = 4;
    Batch high[kChains], low[kChains];
    high[0] = Batch::load_aligned(lanes.high);
    low[0] = Batch::load_aligned(lanes.low);
    for (int c = 1; c < kChains; ++c) high[c] = low[c] = Batch(0.0f);
    size_t j = 0;
    for (; j + kChains * kLanes <= count; j += kChains * kLanes) {
      for (int c = 0; c < kChains; ++c) {
        widen(Batch::load_unaligned(x + j + c * kLanes), high[c], low[c]);
      }
    }
    for (; j + kLanes <= count; j += kLanes) widen(Batch::load_unaligned(x + j), high[0], low[0]);
    for (int c = 1; c < kChains; ++c) {
      widen(high[c], high[0], low[0]);
      widen(low[c], high[0], low[0]);
    }
    high[0].store_aligned(lanes.high);
    low[0].store_aligned(lanes.low);
    scalar_rule::widen_lane0(x + j, count - j, lanes);
  }

  // What a producer's epilogue does with each vector of values it stores
  // (lanes it did not store set to +0, which every range holds): widen(),
  // or with max_only (values a ReLU or ReLU6 wrote: never NaN, never below
  // +0) one max, the minima staying +0; an infinity then enters the maxima
  // (see widen_lanes_nonnegative).
  static void widen_stored(Batch v, Batch& high, Batch& low, bool max_only) {
    if (max_only) {
      high = xsimd::max(v, high);
    } else {
      widen(v, high, low);
    }
  }

  // widen_lanes for values >= +0 without NaN: maxps only, in four chains.
  static void widen_lanes_nonnegative(const float* x, size_t count, RangeLanes& lanes) {
    constexpr int kChains = 4;
    Batch high[kChains];
    high[0] = Batch::load_aligned(lanes.high);
    for (int c = 1; c < kChains; ++c) high[c] = Batch(0.0f);
    size_t j = 0;
    for (; j + kChains * kLanes <= count; j += kChains * kLanes) {
      for (int c = 0; c < kChains; ++c) {
        high[c] = xsimd::max(Batch::load_unaligned(x + j + c * kLanes), high[c]);
      }
    }
    for (; j + kLanes <= count; j += kLanes)
      high[0] = xsimd::max(Batch::load_unaligned(x + j), high[0]);
    for (int c = 1; c < kChains; ++c) high[0] = xsimd::max(high[c], high[0]);
    high[0].store_aligned(lanes.high);
    for (; j < count; ++j) lanes.high[0] = std::max(x[j], lanes.high[0]);
  }

  // A sample's range found as its values are produced (a producer's
  // epilogue, ConstTensorView::ranges): add() each vector of values written
  // (lanes not written set to 0, which every range holds), then finish().
  // The same widen() and scalar rule as fold_range, so the same range.
  struct RangeFolder {
    Batch high = Batch(0.0f), low = Batch(0.0f);
    void add(Batch v) { widen(v, high, low); }
    void finish(SampleRange& range) const { fold_lanes(high, low, range); }
  };

  static QuantizeKernels table(Isa isa) {
    return {
        isa, &fold_range, &to_u8, &to_s8, &to_u8_rectified, &widen_lanes, &widen_lanes_nonnegative};
  }
};

}  // namespace
}  // namespace sparq::kernels
