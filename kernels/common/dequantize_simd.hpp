// sparq::dequantize_accumulator on vectors, then the layer's activation:
// float(acc) (cvtdq2ps rounds like the C conversion), one FMA (rounded once,
// like fmaf) with scale = act_scale * weight_scale, the product the caller
// rounds once as the scalar rule does. Include only from a file compiled
// with the ISA's flags (AVX2 or AVX-512), like simd_arch.hpp.
#pragma once

#include <cstdint>

#include "kernels/common/activation_simd.hpp"
#include "kernels/common/simd_arch.hpp"

namespace sparq::kernels {

template <class Arch>
inline xsimd::batch<float, Arch> dequantize_activate(xsimd::batch<int32_t, Arch> acc,
                                                     xsimd::batch<float, Arch> scale,
                                                     xsimd::batch<float, Arch> bias,
                                                     Activation activation) {
  return apply_activation<Arch>(fused_multiply_add(xsimd::batch_cast<float>(acc), scale, bias),
                                activation);
}

}  // namespace sparq::kernels
