// AVX512-VNNI tile: one vpdpbusd per (row, pixel vector, step) sums a quad of
// u8 x s8 products into each int32 lane, exactly (no saturation: this is
// vpdpbusd, not vpdpbusds). 8 rows x 3 vectors = 24 accumulators.
#include "kernels/conv2d/direct_conv_quant_epilogue.hpp"

namespace sparq::kernels {
namespace {

// acc += dot4(x, w) per lane, in place. Written as asm because GCC 12
// copies the tied accumulator of the intrinsic through spare registers and
// the stack on every step (measured: several times slower).
inline void dpbusd(__m512i& acc, __m512i x, __m512i w) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w));
}

constexpr int64_t kLanes = 16;
constexpr int64_t kVectors = 3;
constexpr int64_t kTile = kLanes * kVectors;

// V pixel vectors of the tile (the last tile of a plane computes only the
// vectors holding its valid pixels).
template <int V>
void quant_vectors(const QuantTileArgs& a) {
  __m512i acc[kOutBlock][V];
#pragma GCC unroll 32
  for (auto& row : acc) {
    for (auto& v : row) v = _mm512_setzero_si512();
  }
  for (int64_t s = 0; s < a.steps; ++s) {
    const uint8_t* x = a.input + (a.step_offsets[s] + a.first_pixel) * 4;
    __m512i xv[V];
#pragma GCC unroll 32
    for (int64_t v = 0; v < V; ++v) xv[v] = _mm512_loadu_si512(x + v * 64);
    const int32_t* w = reinterpret_cast<const int32_t*>(a.weights + s * kOutBlock * 4);
#pragma GCC unroll 32
    for (int64_t r = 0; r < kOutBlock; ++r) {
      const __m512i wq = _mm512_set1_epi32(w[r]);
#pragma GCC unroll 32
      for (int64_t v = 0; v < V; ++v) dpbusd(acc[r][v], xv[v], wq);
    }
  }
  const TileEpilogue<ArchAvx512> epilogue(a);
#pragma GCC unroll 32
  for (int64_t r = 0; r < kOutBlock; ++r) {
#pragma GCC unroll 32
    for (int64_t v = 0; v < V; ++v) epilogue.store(acc[r][v], r, v * kLanes);
  }
}

void quant_tile(const QuantTileArgs& a) {
  if (a.valid <= kLanes) {
    quant_vectors<1>(a);
  } else if (a.valid <= 2 * kLanes) {
    quant_vectors<2>(a);
  } else {
    quant_vectors<kVectors>(a);
  }
}

}  // namespace

DirectConvKernels direct_conv_kernels_vnni() {
  return {Isa::kVnni, kTile, &quant_tile};
}

}  // namespace sparq::kernels
