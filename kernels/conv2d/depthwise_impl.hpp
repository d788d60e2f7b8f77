// Depthwise planes written once; Arch is an xsimd architecture, or
// ScalarDepthwise for the plain loops (which also finish every vector row).
#pragma once

#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "kernels/common/activation.hpp"
#include "kernels/common/activation_simd.hpp"
#include "kernels/common/inside_range.hpp"
#include "kernels/conv2d/depthwise.hpp"
#include "sparq/quantization.hpp"

namespace sparq::kernels {
namespace {

struct ScalarDepthwise {};

// Zeroed elements after the phase planes: the last vector of a row may read
// up to a vector past the row (its extra lanes are computed and dropped), so
// the vector loop needs no scalar tail.
constexpr int64_t kPhaseSlack = 64;

// Stores the first `count` lanes of v (all of them when count >= size).
template <class Batch>
inline void store_prefix(const Batch& v, float* dst, int64_t count) {
  if (count >= static_cast<int64_t>(Batch::size)) {
    v.store_unaligned(dst);
    return;
  }
  alignas(64) float lanes[Batch::size];
  v.store_aligned(lanes);
  for (int64_t j = 0; j < count; ++j) dst[j] = lanes[j];
}

struct PhaseShape {
  int64_t rows, width;
  explicit PhaseShape(const ConvGeometry& g)
      : rows((g.out_h - 1) * g.stride_h + g.kernel_h),
        width(g.out_w + (g.kernel_w - 1) / g.stride_w) {}
};

// phases[ph][y][j] = padded[y][j * stride_w + ph], as T. The columns inside
// the input are found once per phase, so each row is a fill, a branch-free
// (vectorisable) converting copy and a fill.
template <typename T, typename In>
void build_phases(const In* in, const ConvGeometry& g, T* phases) {
  const PhaseShape s(g);
  for (int64_t ph = 0; ph < g.stride_w; ++ph) {
    const int64_t first_x = ph - g.pad_w;  // input column of j = 0
    const auto [lo, hi] = inside_range(s.width, g.stride_w, first_x, g.in_w);
    for (int64_t y = 0; y < s.rows; ++y) {
      // restrict: a uint8_t source may alias anything, which would keep the
      // converting copy scalar.
      T* __restrict dst = phases + (ph * s.rows + y) * s.width;
      const int64_t iy = y - g.pad_h;
      if (iy < 0 || iy >= g.in_h) {
        for (int64_t j = 0; j < s.width; ++j) dst[j] = T(0);
        continue;
      }
      const In* __restrict src = in + iy * g.in_w + first_x;
      for (int64_t j = 0; j < lo; ++j) dst[j] = T(0);
      if (g.stride_w == 1) {
        for (int64_t j = lo; j < hi; ++j) dst[j] = static_cast<T>(src[j]);
      } else {
        for (int64_t j = lo; j < hi; ++j) dst[j] = static_cast<T>(src[j * g.stride_w]);
      }
      for (int64_t j = hi; j < s.width; ++j) dst[j] = T(0);
    }
  }
}

// Calls visit(t, run) for every kernel tap t = ky * kernel_w + kx of output
// row oy, with `run` the contiguous inputs of that tap (phase kx % stride_w,
// shifted by kx / stride_w), without a division in the loop.
template <typename T, typename Visit>
inline void for_each_tap(const T* phases, const ConvGeometry& g, const PhaseShape& s, int64_t oy,
                         const Visit& visit) {
  const int64_t phase_stride = s.rows * s.width;
  int64_t t = 0;
  for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
    const T* row = phases + (oy * g.stride_h + ky) * s.width;
    int64_t phase = 0, shift = 0;
    for (int64_t kx = 0; kx < g.kernel_w; ++kx, ++t) {
      visit(t, row + phase * phase_stride + shift);
      if (++phase == g.stride_w) {
        phase = 0;
        ++shift;
      }
    }
  }
}

template <class Arch>
struct Depthwise {
  static constexpr bool kVector = !std::is_same_v<Arch, ScalarDepthwise>;

  template <typename In>
  static void plane_quant(const In* in, const ConvGeometry& g, const DepthwiseQuantArgs& a,
                          float* out, int32_t* scratch) {
    build_phases<int32_t>(in, g, scratch);
    const PhaseShape shape(g);  // once per plane: it divides
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      float* dst = out + oy * g.out_w;
      int64_t ox = 0;
      if constexpr (kVector) {
        using Int = xsimd::batch<int32_t, Arch>;
        using Float = xsimd::batch<float, Arch>;
        constexpr int64_t kLanes = Int::size;
        const Float scale(a.act_scale * a.weight_scale), bias(a.bias);
        for (; ox < g.out_w; ox += kLanes) {
          Int acc(0);
          for_each_tap(scratch, g, shape, oy, [&](int64_t t, const int32_t* run) {
            acc = acc + Int::load_unaligned(run + ox) * Int(a.weights[t]);
          });
          const Float y = fused_multiply_add(xsimd::batch_cast<float>(acc), scale, bias);
          store_prefix(apply_activation<Arch>(y, a.activation), dst + ox, g.out_w - ox);
        }
      }
      for (; ox < g.out_w; ++ox) {
        int32_t acc = 0;
        for_each_tap(scratch, g, shape, oy,
                     [&](int64_t t, const int32_t* run) { acc += run[ox] * a.weights[t]; });
        dst[ox] = apply_activation(dequantize_accumulator(acc, a.act_scale, a.weight_scale, a.bias),
                                   a.activation);
      }
    }
  }

  static void plane_u8(const uint8_t* in, const ConvGeometry& g, const DepthwiseQuantArgs& a,
                       float* out, int32_t* scratch) {
    plane_quant(in, g, a, out, scratch);
  }
  static void plane_s8(const int8_t* in, const ConvGeometry& g, const DepthwiseQuantArgs& a,
                       float* out, int32_t* scratch) {
    plane_quant(in, g, a, out, scratch);
  }

  static void plane_f32(const float* in, const ConvGeometry& g, const float* weights, float bias,
                        Activation activation, float* out, float* scratch) {
    build_phases<float>(in, g, scratch);
    const PhaseShape shape(g);  // once per plane: it divides
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      float* dst = out + oy * g.out_w;
      int64_t ox = 0;
      if constexpr (kVector) {
        using Float = xsimd::batch<float, Arch>;
        constexpr int64_t kLanes = Float::size;
        for (; ox < g.out_w; ox += kLanes) {
          Float acc(0.0f);
          for_each_tap(scratch, g, shape, oy, [&](int64_t t, const float* run) {
            acc = acc + Float::load_unaligned(run + ox) * Float(weights[t]);
          });
          store_prefix(apply_activation<Arch>(acc + Float(bias), activation), dst + ox,
                       g.out_w - ox);
        }
      }
      for (; ox < g.out_w; ++ox) {
        float acc = 0.0f;
        for_each_tap(scratch, g, shape, oy,
                     [&](int64_t t, const float* run) { acc += run[ox] * weights[t]; });
        dst[ox] = apply_activation(acc + bias, activation);
      }
    }
  }

  static DepthwiseKernels table(Isa isa) { return {isa, &plane_u8, &plane_s8, &plane_f32}; }
};

}  // namespace
}  // namespace sparq::kernels
