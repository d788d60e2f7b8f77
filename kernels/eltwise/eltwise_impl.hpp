// The vector bodies of the element-wise kernels, written once with xsimd and
// instantiated per ISA by eltwise_avx2.cpp / eltwise_avx512.cpp. Tails run the
// scalar rule of activation.hpp, which matches the vector one bit for bit.
#pragma once

#include "kernels/common/activation.hpp"
#include "kernels/common/activation_simd.hpp"
#include "kernels/common/simd_arch.hpp"
#include "kernels/eltwise/eltwise.hpp"
#include "kernels/quantize/quantize_impl.hpp"

namespace sparq::kernels {
namespace {  // internal linkage: each ISA file keeps its own copy

template <class Arch>
struct Eltwise {
  using Batch = xsimd::batch<float, Arch>;
  static constexpr size_t kLanes = Batch::size;

  // y = act(a + b) into out; with a range, each stored vector is folded
  // into it too (the quantize kernels' rule).
  template <bool kRanged>
  static void add_values(const float* a, const float* b, float* out, size_t count, Activation act,
                         SampleRange* range) {
    typename Quantize<Arch>::RangeFolder folder;
    size_t j = 0;
    for (; j + kLanes <= count; j += kLanes) {
      const Batch sum = Batch::load_unaligned(a + j) + Batch::load_unaligned(b + j);
      const Batch y = apply_activation<Arch>(sum, act);
      y.store_unaligned(out + j);
      if constexpr (kRanged) folder.add(y);
    }
    for (size_t k = j; k < count; ++k) out[k] = apply_activation(a[k] + b[k], act);
    if constexpr (kRanged) {
      folder.finish(*range);
      scalar_rule::fold_range(out + j, count - j, *range);
    }
  }

  static void add(const float* a, const float* b, float* out, size_t count, Activation act) {
    add_values<false>(a, b, out, count, act, nullptr);
  }

  static void add_ranged(const float* a, const float* b, float* out, size_t count, Activation act,
                         SampleRange& range) {
    add_values<true>(a, b, out, count, act, &range);
  }

  static void activate(const float* x, float* out, size_t count, Activation act) {
    size_t j = 0;
    for (; j + kLanes <= count; j += kLanes) {
      apply_activation<Arch>(Batch::load_unaligned(x + j), act).store_unaligned(out + j);
    }
    for (; j < count; ++j) out[j] = apply_activation(x[j], act);
  }

  static void dequantize_u8(const uint8_t* q, float scale, float* out, size_t count) {
    const Batch s(scale);
    size_t j = 0;
    for (; j + kLanes <= count; j += kLanes)
      (s * WideningLoads<Arch>::u8(q + j)).store_unaligned(out + j);
    for (; j < count; ++j) out[j] = scale * static_cast<float>(q[j]);
  }

  static void dequantize_s8(const int8_t* q, float scale, float* out, size_t count) {
    const Batch s(scale);
    size_t j = 0;
    for (; j + kLanes <= count; j += kLanes)
      (s * WideningLoads<Arch>::s8(q + j)).store_unaligned(out + j);
    for (; j < count; ++j) out[j] = scale * static_cast<float>(q[j]);
  }

  static EltwiseKernels table(Isa isa) {
    return {isa, &add, &add_ranged, &activate, &dequantize_u8, &dequantize_s8};
  }
};

}  // namespace
}  // namespace sparq::kernels
