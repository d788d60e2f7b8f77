// The VNNI quad dot product as one in-place step, for files compiled with
// AVX512-VNNI: acc += dot4(u8 x, s8 w) per int32 lane, exact (vpdpbusd, not
// the saturating vpdpbusds).
#pragma once

#include <immintrin.h>

namespace sparq::kernels {

// Written as asm because GCC 12 copies the tied accumulator of the intrinsic
// through spare registers (and the stack, when many accumulators are live)
// on every step: measured several times slower in the direct convolution.
inline void dpbusd_in_place(__m512i& acc, __m512i x, __m512i w) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w));
}

// The same with w the 64 bytes at `w`, as the instruction's memory operand
// (one fused load-and-multiply instead of a load and a multiply).
inline void dpbusd_in_place(__m512i& acc, __m512i x, const void* w) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "m"(*static_cast<const __m512i*>(w)));
}

}  // namespace sparq::kernels
