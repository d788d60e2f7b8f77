// AVX512-VNNI: one vpdpbusd per weight row and 64-byte step
// (fully_connected_rows_avx512.hpp).
// A multiply and an add stay two roundings (the reference backend's
// arithmetic): GCC would otherwise fuse them into FMA under this file's -mfma.
#pragma GCC optimize("fp-contract=off")
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

}  // namespace

FullyConnectedKernels fully_connected_kernels_vnni() {
  return {Isa::kVnni, &dot_rows<QuadDots>, &FcFloat<ArchAvx512>::block,
          &FcDequantize<ArchAvx512>::rows};
}

}  // namespace sparq::kernels
