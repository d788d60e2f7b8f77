// The float block with xsimd: kFcFloatBlock output channels in registers, the
// input read once per i and broadcast.
#pragma once

#include "kernels/common/simd_arch.hpp"
#include "kernels/fully_connected/fully_connected.hpp"

namespace sparq::kernels {
namespace {

template <class Arch>
struct FcFloat {
  using Batch = xsimd::batch<float, Arch>;
  static constexpr int64_t kVectors = kFcFloatBlock / static_cast<int64_t>(Batch::size);

  static void block(const float* x, const float* weights, int64_t in, float* sums) {
    Batch acc[kVectors];
#pragma GCC unroll 32
    for (auto& v : acc) v = Batch(0.0f);
    for (int64_t i = 0; i < in; ++i) {
      const float* row = weights + i * kFcFloatBlock;
      const Batch xi(x[i]);
#pragma GCC unroll 32
      for (int64_t v = 0; v < kVectors; ++v) {
        acc[v] = acc[v] + Batch::load_unaligned(row + v * Batch::size) * xi;
      }
    }
#pragma GCC unroll 32
    for (int64_t v = 0; v < kVectors; ++v) acc[v].store_unaligned(sums + v * Batch::size);
  }
};

}  // namespace
}  // namespace sparq::kernels
