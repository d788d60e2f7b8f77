// The epilogue of a register tile on AVX-512, done on the accumulators
// where they are: dequantize_activate of acc - compensation (the same
// instructions: vpsubd, vcvtdq2ps, one vfmadd with the scale product, maxps
// / minps for the activation), then f32 stored (a range widened by maxps),
// or the fused quantize's saturating form checked and rounded for bytes.
//
// Why inline assembly: with the epilogue written in intrinsics after the
// tile's loop, GCC keeps fewer than the tile's 24 accumulators in registers
// (it spills them, or the zeros they start from, inside the loop), so the
// tiles store their accumulators and an out-of-line epilogue reads them
// back. That round trip costs a 1x1 layer with 32 input channels (8 steps
// a tile) a third of its time; here each step is one statement that updates
// its accumulator in place ("+v") and reads its row's operands as embedded
// broadcasts from memory, so no new vector value asks for a register.
// Include only from a file compiled with AVX-512 flags.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/quantize/quantize_impl.hpp"
#include "sparq/ops.hpp"

namespace sparq::kernels {
namespace {

// One output channel's epilogue operands (see TileEpilogue): the
// compensation, the scale product act_scale * weight_scale rounded once,
// and the bias.
struct RegisterRow {
  int32_t compensation;
  float scale;
  float bias;
};

// The activations' bounds, read as embedded broadcasts.
struct ActivationBounds {
  float zero = 0.0f;
  float six = 6.0f;
};

// row.bias in every lane, loaded where it is called: a broadcast the
// compiler could hoist out of the tile loop would hold a register through
// it, one for each of the tile's rows.
[[gnu::always_inline]] inline __m512 broadcast_bias(const RegisterRow& row) {
  __m512 bias;
  asm volatile("vbroadcastss %[b], %[v]" : [v] "=v"(bias) : [b] "m"(row.bias));
  return bias;
}

// acc (int32 lanes) becomes dequantize_activate(acc - row.compensation,
// row.scale, bias, kActivation) (f32 lanes), in place; `bias` holds
// row.bias in every lane.
template <Activation kActivation>
[[gnu::always_inline]] inline __m512 dequantize_activate_in_place(__m512i& acc,
                                                                  const RegisterRow& row,
                                                                  __m512 bias,
                                                                  const ActivationBounds& bounds) {
  // AT&T order: vfmadd132ps m, b, a is a = a * m + b (rounded once, like
  // fused_multiply_add); vmaxps m, a, a is maxps(a, m), whose second
  // operand (+0) wins for a NaN and for -0, as xsimd::max(x, 0) in
  // apply_activation. One statement per activation: split, the compiler
  // copied the value between them.
#define SPARQ_DEQUANTIZE                    \
  "vpsubd %[comp]%{1to16%}, %[a], %[a]\n\t" \
  "vcvtdq2ps %[a], %[a]\n\t"                \
  "vfmadd132ps %[scale]%{1to16%}, %[bias], %[a]"
#define SPARQ_OPERANDS                                                      \
  : [a] "+v"(acc)                                                            \
  : [comp] "m"(row.compensation), [scale] "m"(row.scale), [bias] "v"(bias), \
    [zero] "m"(bounds.zero), [six] "m"(bounds.six)
  if constexpr (kActivation == Activation::kNone) {
    asm(SPARQ_DEQUANTIZE SPARQ_OPERANDS);
  } else if constexpr (kActivation == Activation::kRelu) {
    asm(SPARQ_DEQUANTIZE "\n\tvmaxps %[zero]%{1to16%}, %[a], %[a]" SPARQ_OPERANDS);
  } else {
    asm(SPARQ_DEQUANTIZE
        "\n\tvmaxps %[zero]%{1to16%}, %[a], %[a]"
        "\n\tvminps %[six]%{1to16%}, %[a], %[a]" SPARQ_OPERANDS);
  }
#undef SPARQ_OPERANDS
#undef SPARQ_DEQUANTIZE
  return _mm512_castsi512_ps(acc);
}

// high = maxps(y, high) in the lanes of `lanes` (Quantize::widen_stored's
// max-only form: values after a ReLU or ReLU6, never NaN nor below +0).
[[gnu::always_inline]] inline void widen_high_in_place(__m512& high, __m512 y, __mmask16 lanes) {
  asm("vmaxps %[high], %[y], %[high]%{%[k]%}" : [high] "+v"(high) : [y] "v"(y), [k] "Yk"(lanes));
}

// The fused quantize's saturating form (QuantizedStore::saturating: u8 with
// qmax 255 after a ReLU or ReLU6, a scale that the product stands in for)
// as embedded-broadcast operands.
struct RegisterQuantize {
  float reciprocal;  // Quotient::reciprocal_of(scale)
  float near_half = Quantize<ArchAvx512>::Quotient::kNearHalf;
  uint32_t magnitude = 0x7fffffffu;  // clears the sign bit
};

// estimate = y * reciprocal (Quotient::product), in a register of its own
// so that y stays for the exact path; returns estimate - nearbyint(estimate)
// (vreduceps, exact), whose magnitude Quotient::near_half compares.
[[gnu::always_inline]] inline __m512 estimate_fraction(__m512 y, const RegisterQuantize& q,
                                                       __m512& estimate) {
  __m512 fraction;
  asm("vmulps %[r]%{1to16%}, %[y], %[e]\n\t"
      "vreduceps $0, %[e], %[f]"
      : [e] "=&v"(estimate), [f] "=&v"(fraction)
      : [y] "v"(y), [r] "m"(q.reciprocal));
  return fraction;
}

// The lanes of V estimates' fractions that Quotient::near_half flags, in
// one comparison: vrangeps keeps the larger magnitude of two (sign
// cleared). No fraction is NaN (y is not NaN after a ReLU, and vreduceps
// gives +0 for an infinite estimate); were one, vrangeps would pass it on
// and the unordered comparison count it as near, sending the row to the
// exact path rather than hiding the other vectors' lanes.
template <int V>
[[gnu::always_inline]] inline __mmask16 near_half(const __m512 (&fraction)[V],
                                                  const RegisterQuantize& q) {
  __m512 largest = fraction[0];
  if constexpr (V == 1) {
    asm("vandps %[m]%{1to16%}, %[a], %[a]" : [a] "+v"(largest) : [m] "m"(q.magnitude));
  }
  for (int v = 1; v < V; ++v) {
    asm("vrangeps $0x0b, %[b], %[a], %[a]" : [a] "+v"(largest) : [b] "v"(fraction[v]));
  }
  __mmask16 near;
  asm("vcmpps $0x15, %[b]%{1to16%}, %[a], %[k]"  // 0x15: _CMP_NLT_UQ, >= or a NaN
      : [k] "=Yk"(near)
      : [a] "v"(largest), [b] "m"(q.near_half));
  return near;
}

}  // namespace
}  // namespace sparq::kernels
