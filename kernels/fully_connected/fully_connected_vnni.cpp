// AVX512-VNNI: the blocked layout's groups of 64 outputs (dot_u8s8_groups),
// and, for row-major weights, one vpdpbusd per weight row and 64-byte step
// (fully_connected_rows_avx512.hpp).
// A multiply and an add stay two roundings (the reference backend's
// arithmetic): GCC would otherwise fuse them into FMA under this file's -mfma.
#pragma GCC optimize("fp-contract=off")
#include <algorithm>
#include <cstring>

#include "kernels/common/dot_quads_vnni.hpp"
#include "kernels/fully_connected/fully_connected_dequantize_impl.hpp"
#include "kernels/fully_connected/fully_connected_float_impl.hpp"
#include "kernels/fully_connected/fully_connected_rows_avx512.hpp"

namespace sparq::kernels {
namespace {

struct QuadDots {
  static __m512i prepare(__m512i x) { return x; }
  static void add(__m512i& acc, __m512i x, __m512i w) { dpbusd_in_place(acc, x, w); }
};

constexpr int kGroupVectors = kFcQuantGroup / 16;  // 16 outputs per vector
static_assert(kGroupVectors == 4);                 // add_quad's accumulators

// a0..a3 += the quad's 4 bytes (broadcast) x the 4 weights of each of the
// group's 64 outputs, 16 per vector.
[[gnu::always_inline]] inline void add_quad(__m512i& a0, __m512i& a1, __m512i& a2, __m512i& a3,
                                            int32_t quad, const int8_t* weights) {
  const __m512i x = _mm512_set1_epi32(quad);
  dpbusd_in_place(a0, x, weights);
  dpbusd_in_place(a1, x, weights + 64);
  dpbusd_in_place(a2, x, weights + 128);
  dpbusd_in_place(a3, x, weights + 192);
}

int32_t quad_at(const uint8_t* x) {
  int32_t quad;
  std::memcpy(&quad, x, 4);
  return quad;
}

// The dots of one group's min(rows, 64) outputs from its stream of
// quads * 256 bytes: per input quad, its 4 bytes broadcast against the 64
// outputs' 4 weights each (4 vectors). Four quads per step, each into its
// own 4 accumulators, so 16 vpdpbusd are independent. The accumulators are
// named variables: in an array GCC also kept each in memory and stored it
// after every step (512 -> 1000 outputs in 4.4 us on a Zen 5 core), and
// with the intrinsic instead of dpbusd_in_place it moved each through a
// second register every step (3.6 us); written this way 3.5 us, and 2.8 us
// with the groups 64-byte aligned (oneDNN's int8 layer: 3.2-3.4 us in the
// same process).
void dot_group(const uint8_t* x, const int8_t* group, int64_t in, int64_t rows, int32_t* dots) {
  constexpr int64_t kQuadBytes = kFcQuantGroup * 4;
  const int64_t whole = in / 4;  // quads read from x directly
  __m512i a00 = _mm512_setzero_si512(), a01 = a00, a02 = a00, a03 = a00;
  __m512i a10 = a00, a11 = a00, a12 = a00, a13 = a00;
  __m512i a20 = a00, a21 = a00, a22 = a00, a23 = a00;
  __m512i a30 = a00, a31 = a00, a32 = a00, a33 = a00;
  int64_t q = 0;
  for (; q + 4 <= whole; q += 4) {
    const int8_t* w = group + q * kQuadBytes;
    add_quad(a00, a01, a02, a03, quad_at(x + 4 * q), w);
    add_quad(a10, a11, a12, a13, quad_at(x + 4 * q + 4), w + kQuadBytes);
    add_quad(a20, a21, a22, a23, quad_at(x + 4 * q + 8), w + 2 * kQuadBytes);
    add_quad(a30, a31, a32, a33, quad_at(x + 4 * q + 12), w + 3 * kQuadBytes);
  }
  for (; q < whole; ++q) add_quad(a00, a01, a02, a03, quad_at(x + 4 * q), group + q * kQuadBytes);
  if (whole * 4 < in) {
    // The last, partial quad: its missing bytes meet zero weights.
    int32_t quad = 0;
    std::memcpy(&quad, x + 4 * whole, static_cast<size_t>(in - 4 * whole));
    add_quad(a00, a01, a02, a03, quad, group + whole * kQuadBytes);
  }
  const __m512i sums[kGroupVectors] = {
      _mm512_add_epi32(_mm512_add_epi32(a00, a10), _mm512_add_epi32(a20, a30)),
      _mm512_add_epi32(_mm512_add_epi32(a01, a11), _mm512_add_epi32(a21, a31)),
      _mm512_add_epi32(_mm512_add_epi32(a02, a12), _mm512_add_epi32(a22, a32)),
      _mm512_add_epi32(_mm512_add_epi32(a03, a13), _mm512_add_epi32(a23, a33))};
  for (int v = 0; v < kGroupVectors; ++v) {
    const auto lanes = static_cast<__mmask16>(first_lanes(rows - 16 * v));  // clamped
    _mm512_mask_storeu_epi32(dots + 16 * v, lanes, sums[v]);
  }
}

void dot_groups(const uint8_t* x, const int8_t* groups, int64_t in, int64_t rows, int32_t* dots) {
  const int64_t group_bytes = fc_quant_group_bytes(kFcQuantGroup, in);
  for (int64_t r = 0; r < rows; r += kFcQuantGroup) {
    dot_group(x, groups + r / kFcQuantGroup * group_bytes, in, std::min(kFcQuantGroup, rows - r),
              dots + r);
  }
}

}  // namespace

FullyConnectedKernels fully_connected_kernels_vnni() {
  return {Isa::kVnni, &dot_rows<QuadDots>, &FcFloat<ArchAvx512>::block,
          &FcDequantize<ArchAvx512>::rows, &dot_groups};
}

}  // namespace sparq::kernels
