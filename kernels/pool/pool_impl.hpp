// Pooling written once: a phase-split padded copy of the plane (so window
// taps are contiguous), then per output row a vector loop (xsimd, when Arch
// is a SIMD architecture) and a scalar tail applying the same rule.
#pragma once

#include <cmath>
#include <limits>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "kernels/pool/pool.hpp"

namespace sparq::kernels {
namespace {

struct ScalarArch {};

// phases[ph][y][j] = padded[y][j * stride_w + ph], padded = `fill` outside the input.
inline void build_phase_planes(const float* in, const PoolGeometry& g, float fill, float* phases) {
  const int64_t rows = (g.out_h - 1) * g.stride_h + g.kernel_h;
  const int64_t width = g.out_w + (g.kernel_w - 1) / g.stride_w;
  for (int64_t ph = 0; ph < g.stride_w; ++ph) {
    for (int64_t y = 0; y < rows; ++y) {
      float* dst = phases + (ph * rows + y) * width;
      const int64_t iy = y - g.pad_h;
      const bool row_inside = iy >= 0 && iy < g.in_h;
      for (int64_t j = 0; j < width; ++j) {
        const int64_t ix = j * g.stride_w + ph - g.pad_w;
        dst[j] = (row_inside && ix >= 0 && ix < g.in_w) ? in[iy * g.in_w + ix] : fill;
      }
    }
  }
}

inline float max_step(float best, float v) {
  if (std::isnan(v) && !std::isnan(best)) return v;  // the first NaN sticks
  return v > best ? v : best;
}

template <class Arch>
struct Pool {
  static constexpr bool kVector = !std::is_same_v<Arch, ScalarArch>;

  // Calls visit(run) for every window tap of output row oy in (ky, kx)
  // order, `run` being that tap's contiguous inputs; no division in the loop.
  template <typename Visit>
  static void for_each_tap(const float* phases, const PoolGeometry& g, int64_t oy,
                           const Visit& visit) {
    const int64_t rows = (g.out_h - 1) * g.stride_h + g.kernel_h;
    const int64_t width = g.out_w + (g.kernel_w - 1) / g.stride_w;
    for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
      const float* row = phases + (oy * g.stride_h + ky) * width;
      int64_t phase = 0, shift = 0;
      for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
        visit(row + phase * rows * width + shift);
        if (++phase == g.stride_w) {
          phase = 0;
          ++shift;
        }
      }
    }
  }

  static void max_plane(const float* in, float* out, const PoolGeometry& g, float* scratch) {
    build_phase_planes(in, g, -std::numeric_limits<float>::infinity(), scratch);
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      float* dst = out + oy * g.out_w;
      int64_t ox = 0;
      if constexpr (kVector) {
        using Batch = xsimd::batch<float, Arch>;
        constexpr int64_t kLanes = Batch::size;
        for (; ox + kLanes <= g.out_w; ox += kLanes) {
          Batch best(-std::numeric_limits<float>::infinity());
          for_each_tap(scratch, g, oy, [&](const float* run) {
            const Batch v = Batch::load_unaligned(run + ox);
            // max(v, best) is maxps: v > best ? v : best.
            best = xsimd::select(xsimd::isnan(v) & !xsimd::isnan(best), v, xsimd::max(v, best));
          });
          best.store_unaligned(dst + ox);
        }
      }
      for (; ox < g.out_w; ++ox) {
        float best = -std::numeric_limits<float>::infinity();
        for_each_tap(scratch, g, oy, [&](const float* run) { best = max_step(best, run[ox]); });
        dst[ox] = best;
      }
    }
  }

  static void avg_plane(const float* in, float* out, const PoolGeometry& g, float* scratch) {
    build_phase_planes(in, g, 0.0f, scratch);
    const float window = static_cast<float>(g.kernel_h * g.kernel_w);
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      float* dst = out + oy * g.out_w;
      int64_t ox = 0;
      if constexpr (kVector) {
        using Batch = xsimd::batch<float, Arch>;
        constexpr int64_t kLanes = Batch::size;
        for (; ox + kLanes <= g.out_w; ox += kLanes) {
          Batch sum(0.0f);
          for_each_tap(scratch, g, oy,
                       [&](const float* run) { sum = sum + Batch::load_unaligned(run + ox); });
          (sum / Batch(window)).store_unaligned(dst + ox);
        }
      }
      for (; ox < g.out_w; ++ox) {
        float sum = 0.0f;
        for_each_tap(scratch, g, oy, [&](const float* run) { sum += run[ox]; });
        dst[ox] = sum / window;
      }
    }
  }

  static PoolKernels table(Isa isa) { return {isa, &max_plane, &avg_plane}; }
};

}  // namespace
}  // namespace sparq::kernels
