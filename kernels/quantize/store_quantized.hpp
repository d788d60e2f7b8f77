// Layer epilogues with a fused static quantize: a vector of f32 outputs
// through the quantize kernels' own rounding and clamping
// (Quantize<Arch>::round_clamp), stored as bytes. Include only from a file
// compiled with the ISA's flags, like quantize_impl.hpp.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/quantize/quantize.hpp"
#include "kernels/quantize/quantize_impl.hpp"

namespace sparq::kernels {
namespace {

// Lanes [0, count) of y, quantized, to dst[0, count) (all lanes when count
// >= the lane count); no byte past dst + count is written (a masked store on
// AVX-512, a buffer on AVX2).
template <class Arch>
inline void store_quantized(xsimd::batch<float, Arch> y, const FusedQuantize& q, uint8_t* dst,
                            int64_t count) {
  using Batch = xsimd::batch<float, Arch>;
  constexpr auto kLanes = static_cast<int64_t>(Batch::size);
  const Batch lowest(q.is_signed ? -127.0f : 0.0f);
  const Batch highest(q.is_signed ? 127.0f : static_cast<float>(q.qmax));
  const auto bytes = Quantize<Arch>::round_clamp(y, Batch(q.scale), lowest, highest);
  if (count >= kLanes) {
    store_low_bytes(bytes, dst);
    return;
  }
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<Arch, ArchAvx512>) {
    // vpmovdb with a mask writes only the first `count` bytes.
    _mm512_mask_cvtepi32_storeu_epi8(dst, static_cast<__mmask16>((1u << count) - 1), bytes);
    return;
  }
#endif
  alignas(64) uint8_t tail[kLanes];
  store_low_bytes(bytes, tail);
  for (int64_t p = 0; p < count; ++p) dst[p] = tail[p];
}

}  // namespace
}  // namespace sparq::kernels
