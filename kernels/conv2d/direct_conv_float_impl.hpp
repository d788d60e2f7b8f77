// The f32 tile written once with xsimd: kOutBlock rows x two vectors of
// pixels. Each pixel's sum runs over the steps in order with a separate
// multiply and add (no FMA), exactly the reference backend's arithmetic, so
// float convolutions are bit-identical to it.
#pragma once

#include "kernels/common/activation_simd.hpp"
#include "kernels/common/simd_arch.hpp"
#include "kernels/conv2d/direct_conv.hpp"

namespace sparq::kernels {
namespace {

template <class Arch>
struct FloatTile {
  using Batch = xsimd::batch<float, Arch>;
  static constexpr int64_t kVectors = 2;
  static constexpr int64_t kTile = kVectors * static_cast<int64_t>(Batch::size);

  static void run(const FloatTileArgs& a) {
    Batch acc[kOutBlock][kVectors];
#pragma GCC unroll 32
    for (auto& row : acc) {
      for (auto& v : row) v = Batch(0.0f);
    }
    for (int64_t s = 0; s < a.steps; ++s) {
      const float* x = a.input + a.step_offsets[s] + a.first_pixel;
      Batch xv[kVectors];
#pragma GCC unroll 32
      for (int64_t v = 0; v < kVectors; ++v) xv[v] = Batch::load_unaligned(x + v * Batch::size);
      const float* w = a.weights + s * kOutBlock;
#pragma GCC unroll 32
      for (int64_t r = 0; r < kOutBlock; ++r) {
        const Batch wr(w[r]);
#pragma GCC unroll 32
        for (int64_t v = 0; v < kVectors; ++v) acc[r][v] = acc[r][v] + xv[v] * wr;
      }
    }
#pragma GCC unroll 32
    for (int64_t r = 0; r < kOutBlock; ++r) {
      const Batch bias(a.bias[r]);
#pragma GCC unroll 32
      for (int64_t v = 0; v < kVectors; ++v) {
        apply_activation<Arch>(acc[r][v] + bias, a.activation)
            .store_unaligned(a.out + r * kTile + v * Batch::size);
      }
    }
  }
};

}  // namespace
}  // namespace sparq::kernels
