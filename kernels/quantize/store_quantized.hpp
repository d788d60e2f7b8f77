// Layer epilogues with a fused static quantize: vectors of f32 outputs
// through the quantize kernels' own rounding and clamping
// (Quantize<Arch>::round_clamp), stored as bytes. Include only from a file
// compiled with the ISA's flags, like quantize_impl.hpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/common/lane_masks.hpp"
#include "kernels/quantize/quantize.hpp"
#include "kernels/quantize/quantize_impl.hpp"

namespace sparq::kernels {
namespace {

// The rule's operands as vectors, set once per layer or row.
template <class Arch>
struct QuantizedStore {
  using Batch = xsimd::batch<float, Arch>;
  static constexpr auto kLanes = static_cast<int64_t>(Batch::size);
  typename Quantize<Arch>::Quotient scale;
  Batch highest;
  bool is_signed;
  // AVX-512, u8 with qmax 255, values never below +0 nor NaN: the product
  // unclamped and a saturating narrowing (Quantize::round_saturating_n).
  bool saturating;

  // `nonnegative`: every value stored is +0 or above and not NaN (the
  // layer's activation is a ReLU or ReLU6).
  explicit QuantizedStore(const FusedQuantize& q, bool nonnegative = false)
      : scale(q.scale),
        highest(q.is_signed ? 127.0f : static_cast<float>(q.qmax)),
        is_signed(q.is_signed),
        saturating(nonnegative && !q.is_signed && q.qmax == 255 && saturates(scale)) {}

  static bool saturates([[maybe_unused]] const typename Quantize<Arch>::Quotient& by_scale) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<Arch, ArchAvx512>) return !by_scale.divides();
#endif
    return false;
  }

  // Lanes [0, count) of y to dst[0, count) (all lanes when count >= the lane
  // count); no byte past dst + count is written (a masked store on AVX-512,
  // a buffer on AVX2).
  void store(Batch y, uint8_t* dst, int64_t count) const {
    const auto bytes = Quantize<Arch>::round_clamp(y, scale, highest, is_signed);
    if (count >= kLanes) {
      store_low_bytes(bytes, dst);
      return;
    }
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<Arch, ArchAvx512>) {
      _mm_mask_storeu_epi8(dst, static_cast<__mmask16>(first_lanes16(count)),
                           _mm512_cvtepi32_epi8(bytes));
      return;
    }
#endif
    alignas(64) uint8_t tail[kLanes];
    store_low_bytes(bytes, tail);
    std::memcpy(dst, tail, static_cast<size_t>(count));
  }

#if defined(__AVX512F__)
  // The rule's integers of N vectors through one rounding check
  // (Quantize::round_clamp_n, or round_saturating_n where the store
  // saturates; AVX-512 only), for bytes(): the same bytes as store().
  template <int N>
  void round_n(const Batch (&y)[N], xsimd::batch<int32_t, Arch> (&q)[N]) const {
    static_assert(std::is_same_v<Arch, ArchAvx512>);
    if (saturating) {
      Quantize<Arch>::round_saturating_n(y, scale, q);
    } else {
      Quantize<Arch>::round_clamp_n(y, scale, highest, is_signed, q);
    }
  }

  // One vector of round_n's integers as its 16 bytes (`saturate`: the
  // store's saturating member, which callers copy to a local).
  static __m128i bytes(xsimd::batch<int32_t, Arch> q, bool saturate) {
    return saturate ? _mm512_cvtusepi32_epi8(q) : _mm512_cvtepi32_epi8(q);
  }

  // N vectors through one rounding check (round_n), vector i's first
  // count[i] lanes to dst[i] (AVX-512 only).
  template <int N>
  void store_n(const Batch (&y)[N], uint8_t* const (&dst)[N], const int64_t (&count)[N]) const {
    // A local: the byte stores may alias this object, so the member would be
    // read again after each of them.
    const bool saturate = saturating;
    xsimd::batch<int32_t, Arch> q[N];
    round_n(y, q);
#pragma GCC unroll 16
    for (int i = 0; i < N; ++i) {
      const __m128i b = bytes(q[i], saturate);
      // Narrowed in a register, whole vectors stored unmasked: a masked
      // narrowing store (vpmovdb to memory) costs more on Zen cores.
      if (count[i] >= kLanes) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst[i]), b);
      } else {
        _mm_mask_storeu_epi8(dst[i], static_cast<__mmask16>(first_lanes16(count[i])), b);
      }
    }
  }

  // The lanes of mask m of y to the same lanes of dst (AVX-512 only).
  void store_lanes(Batch y, __mmask16 m, uint8_t* dst) const {
    static_assert(std::is_same_v<Arch, ArchAvx512>);
    _mm_mask_storeu_epi8(
        dst, m, _mm512_cvtepi32_epi8(Quantize<Arch>::round_clamp(y, scale, highest, is_signed)));
  }
#endif
};

}  // namespace
}  // namespace sparq::kernels
