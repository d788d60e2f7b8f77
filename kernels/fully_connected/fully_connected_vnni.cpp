// AVX512-VNNI: four weight rows share each 64-byte load of the input; one
// vpdpbusd per row and load; masked loads for the tail.
// A multiply and an add stay two roundings (the reference backend's
// arithmetic): GCC would otherwise fuse them into FMA under this file's -mfma.
#pragma GCC optimize("fp-contract=off")
#include "kernels/common/lane_masks.hpp"
#include "kernels/fully_connected/fully_connected_dequantize_impl.hpp"
#include "kernels/fully_connected/fully_connected_float_impl.hpp"

namespace sparq::kernels {
namespace {

constexpr int64_t kRows = 4;

void dot_u8s8(const uint8_t* x, const int8_t* w, int64_t in, int64_t rows, int32_t* dots) {
  int64_t r = 0;
  for (; r < rows; r += kRows) {
    const int64_t count = rows - r < kRows ? rows - r : kRows;
    __m512i acc[kRows] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                          _mm512_setzero_si512()};
    for (int64_t i = 0; i < in; i += 64) {
      const int64_t left = in - i;
      const __mmask64 mask = first_lanes(left);
      const __m512i xv = _mm512_maskz_loadu_epi8(mask, x + i);
#pragma GCC unroll 32
      for (int64_t k = 0; k < count; ++k) {
        const __m512i wv = _mm512_maskz_loadu_epi8(mask, w + (r + k) * in + i);
        acc[k] = _mm512_dpbusd_epi32(acc[k], xv, wv);
      }
    }
#pragma GCC unroll 32
    for (int64_t k = 0; k < count; ++k) dots[r + k] = _mm512_reduce_add_epi32(acc[k]);
  }
}

}  // namespace

FullyConnectedKernels fully_connected_kernels_vnni() {
  return {Isa::kVnni, &dot_u8s8, &FcFloat<ArchAvx512>::block, &FcDequantize<ArchAvx512>::rows};
}

}  // namespace sparq::kernels
