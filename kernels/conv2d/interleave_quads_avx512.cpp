#include "kernels/common/byte_quads_avx512.hpp"
#include "kernels/conv2d/interleave_quads.hpp"

namespace sparq::kernels {
namespace {

template <int S>
void interleave(const uint8_t* const src[4], int64_t n, uint8_t flip, uint8_t* dst) {
  const __m512i f = _mm512_set1_epi8(static_cast<char>(flip));
  for (int64_t x = 0; x < n; x += 64) {
    const int count = static_cast<int>(std::min<int64_t>(64, n - x));
    __m512i channels[4];
    for (int d = 0; d < 4; ++d) {
      channels[d] = _mm512_xor_si512(load_row_pixels<S>(src[d] + S * x, count), f);
    }
    store_quads64(channels, count, reinterpret_cast<uint32_t*>(dst + 4 * x));
  }
}

}  // namespace

void interleave_quads_avx512(const uint8_t* const src[4], int64_t n, int stride, uint8_t flip,
                             uint8_t* dst) {
  if (stride == 1) {
    interleave<1>(src, n, flip, dst);
  } else {
    interleave<2>(src, n, flip, dst);
  }
}

}  // namespace sparq::kernels
