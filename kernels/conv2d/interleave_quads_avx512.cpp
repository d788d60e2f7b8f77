#include "kernels/common/byte_quads_avx512.hpp"
#include "kernels/conv2d/interleave_quads.hpp"

namespace sparq::kernels {
namespace {

template <int S>
void interleave(const uint8_t* const src[4], int64_t n, __m512i flip, uint8_t* dst) {
  for (int64_t x = 0; x < n; x += 64) {
    const int count = static_cast<int>(std::min<int64_t>(64, n - x));
    __m512i channels[4];
    for (int d = 0; d < 4; ++d) {
      channels[d] = _mm512_xor_si512(load_row_pixels<S>(src[d] + S * x, count), flip);
    }
    store_quads64(channels, count, reinterpret_cast<uint32_t*>(dst + 4 * x));
  }
}

// Rows of up to 32 pixels go two to a shuffle network: the 28-pixel rows of
// a 56-wide input at stride 2 (ResNet's first downsample) used 28 of its 64
// lanes, one call per row.
template <int S>
void interleave_rows(const uint8_t* const src[4], int64_t n, int64_t rows, int64_t row_step,
                     uint8_t flip, uint8_t* dst) {
  const __m512i f = _mm512_set1_epi8(static_cast<char>(flip));
  int64_t r = 0;
  if (n <= 32) {
    const int count = static_cast<int>(n);
    for (; r + 2 <= rows; r += 2) {
      __m512i channels[4];
      for (int d = 0; d < 4; ++d) {
        const uint8_t* row = src[d] + r * row_step;
        const __m512i first = load_row_pixels<S>(row, count);
        const __m512i second = load_row_pixels<S>(row + row_step, count);
        channels[d] =
            _mm512_xor_si512(_mm512_inserti64x4(first, _mm512_castsi512_si256(second), 1), f);
      }
      store_quad_row_pair(channels, count, reinterpret_cast<uint32_t*>(dst + 4 * n * r));
    }
  }
  for (; r < rows; ++r) {
    const uint8_t* row[4];
    for (int d = 0; d < 4; ++d) row[d] = src[d] + r * row_step;
    interleave<S>(row, n, f, dst + 4 * n * r);
  }
}

}  // namespace

void interleave_quads_avx512(const uint8_t* const src[4], int64_t n, int stride, uint8_t flip,
                             uint8_t* dst, int64_t rows, int64_t row_step) {
  if (stride == 1) {
    interleave_rows<1>(src, n, rows, row_step, flip, dst);
  } else {
    interleave_rows<2>(src, n, rows, row_step, flip, dst);
  }
}

}  // namespace sparq::kernels
