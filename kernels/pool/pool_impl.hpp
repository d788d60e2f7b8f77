// Pooling written once: the padded input is regrouped into "tap planes" so
// that every window tap reads one contiguous run covering the whole output
// plane; then one vector loop (xsimd, when Arch is a SIMD architecture) over
// all outputs and a scalar tail applying the same rule. Small planes (14x14
// after a 2x2 pool) would leave a per-row vector loop mostly in its scalar
// tail; the flat loop does not care how wide a row is.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "kernels/common/inside_range.hpp"
#include "kernels/pool/pool.hpp"

namespace sparq::kernels {
namespace {

struct ScalarArch {};

// Tap planes: for window column kx and row phase ry (< stride_h),
//   plane(kx, ry)[y][ox] = padded[y * stride_h + ry][ox * stride_w + kx],
// `fill` outside the input, y < tap_plane_rows(g). Window tap (ky, kx) of
// output (oy, ox) is then plane(kx, ky % stride_h)[oy + ky / stride_h][ox]:
// flat index (ky / stride_h) * out_w + oy * out_w + ox, contiguous in oy, ox.
inline int64_t tap_plane_rows(const PoolGeometry& g) {
  return g.out_h + (g.kernel_h - 1) / g.stride_h;
}

template <class T>
const T* tap_run(const T* planes, const PoolGeometry& g, int64_t ky, int64_t kx) {
  const int64_t plane_size = tap_plane_rows(g) * g.out_w;
  return planes + (kx * g.stride_h + ky % g.stride_h) * plane_size + (ky / g.stride_h) * g.out_w;
}

template <class T>
void build_tap_planes(const T* in, const PoolGeometry& g, T fill, T* planes) {
  const int64_t rows = tap_plane_rows(g);
  for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
    // Output columns whose input column ox * stride_w + kx - pad_w is inside.
    const int64_t first_x = kx - g.pad_w;
    const auto [lo, hi] = inside_range(g.out_w, g.stride_w, first_x, g.in_w);
    for (int64_t ry = 0; ry < g.stride_h; ++ry) {
      T* plane = planes + (kx * g.stride_h + ry) * rows * g.out_w;
      for (int64_t y = 0; y < rows; ++y) {
        T* dst = plane + y * g.out_w;
        const int64_t iy = y * g.stride_h + ry - g.pad_h;
        if (iy < 0 || iy >= g.in_h) {
          for (int64_t ox = 0; ox < g.out_w; ++ox) dst[ox] = fill;
          continue;
        }
        const T* src = in + iy * g.in_w + first_x;
        for (int64_t ox = 0; ox < lo; ++ox) dst[ox] = fill;
        if (g.stride_w == 1) {
          for (int64_t ox = lo; ox < hi; ++ox) dst[ox] = src[ox];
        } else if (g.stride_w == 2) {
          for (int64_t ox = lo; ox < hi; ++ox) dst[ox] = src[2 * ox];
        } else {
          for (int64_t ox = lo; ox < hi; ++ox) dst[ox] = src[ox * g.stride_w];
        }
        for (int64_t ox = hi; ox < g.out_w; ++ox) dst[ox] = fill;
      }
    }
  }
}

inline float max_step(float best, float v) {
  if (std::isnan(v) && !std::isnan(best)) return v;  // the first NaN sticks
  return v > best ? v : best;
}

// The two window reductions, each as fill (padding), start, step and finish,
// for a float or an xsimd batch. Max: padding never wins, the first NaN
// sticks. Average: padding adds nothing, the sum is divided by the window.
struct MaxRule {
  static constexpr float kFill = -std::numeric_limits<float>::infinity();
  static constexpr float kStart = -std::numeric_limits<float>::infinity();
  static float step(float best, float v) { return max_step(best, v); }
  template <class B>
  static B step(B best, B v) {
    // max(v, best) is maxps: v > best ? v : best.
    return xsimd::select(xsimd::isnan(v) & !xsimd::isnan(best), v, xsimd::max(v, best));
  }
  template <class T>
  static T finish(T best, float) {
    return best;
  }
};

struct AverageRule {
  static constexpr float kFill = 0.0f;
  static constexpr float kStart = 0.0f;
  template <class T>
  static T step(T sum, T v) {
    return sum + v;
  }
  static float finish(float sum, float window) { return sum / window; }
  template <class B>
  static B finish(B sum, float window) {
    return sum / B(window);
  }
};

// Max over u8 or s8 values (T): padding is T's lowest value (never larger
// than an input byte), and bytes have no NaN to keep.
template <class T>
struct ByteMaxRule {
  static constexpr T kFill = std::numeric_limits<T>::lowest();
  static constexpr T kStart = std::numeric_limits<T>::lowest();
  static T step(T best, T v) { return std::max(best, v); }
  template <class B>
  static B step(B best, B v) {
    return xsimd::max(best, v);
  }
  template <class X>
  static X finish(X best, float) {
    return best;
  }
};

template <class Arch>
struct Pool {
  static constexpr bool kVector = !std::is_same_v<Arch, ScalarArch>;

  // Calls visit(run) for every window tap in (ky, kx) order, `run` being
  // that tap's value for every output of the plane.
  template <class T, typename Visit>
  static void for_each_tap(const T* planes, const PoolGeometry& g, const Visit& visit) {
    for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
      for (int64_t kx = 0; kx < g.kernel_w; ++kx) visit(tap_run(planes, g, ky, kx));
    }
  }

  // The window rule over one plane of T (float, or u8/s8 for ByteMaxRule).
  template <class Rule, class T>
  static void reduce_plane(const T* in, T* out, const PoolGeometry& g, T* scratch) {
    build_tap_planes(in, g, T(Rule::kFill), scratch);
    const float window = static_cast<float>(g.kernel_h * g.kernel_w);
    const int64_t outputs = g.out_h * g.out_w;
    const T start = Rule::kStart;
    int64_t i = 0;
    if constexpr (kVector) {
      using Batch = xsimd::batch<T, Arch>;
      constexpr int64_t kLanes = Batch::size;
      for (; i + kLanes <= outputs; i += kLanes) {
        Batch acc(start);
        for_each_tap(scratch, g,
                     [&](const T* run) { acc = Rule::step(acc, Batch::load_unaligned(run + i)); });
        Rule::finish(acc, window).store_unaligned(out + i);
      }
    }
    for (; i < outputs; ++i) {
      T acc = start;
      for_each_tap(scratch, g, [&](const T* run) { acc = Rule::step(acc, run[i]); });
      out[i] = Rule::finish(acc, window);
    }
  }

  static void max_plane(const float* in, float* out, const PoolGeometry& g, float* scratch) {
    reduce_plane<MaxRule>(in, out, g, scratch);
  }
  static void avg_plane(const float* in, float* out, const PoolGeometry& g, float* scratch) {
    reduce_plane<AverageRule>(in, out, g, scratch);
  }

  static void max_plane_u8(const uint8_t* in, uint8_t* out, const PoolGeometry& g, void* scratch) {
    reduce_plane<ByteMaxRule<uint8_t>>(in, out, g, static_cast<uint8_t*>(scratch));
  }
  static void max_plane_s8(const int8_t* in, int8_t* out, const PoolGeometry& g, void* scratch) {
    reduce_plane<ByteMaxRule<int8_t>>(in, out, g, static_cast<int8_t*>(scratch));
  }

  static PoolKernels table(Isa isa) {
    return {isa,
            &max_plane,
            &avg_plane,
            &max_plane_u8,
            &max_plane_s8,
            &max_plane,
            &global_avg_pool_planes};
  }
};

}  // namespace
}  // namespace sparq::kernels
