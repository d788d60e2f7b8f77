#include "kernels/conv2d/direct_conv.hpp"

#include "kernels/common/pick_isa.hpp"

namespace sparq::kernels {

DirectConvKernels direct_conv_kernels(Isa active) {
  switch (pick_isa(active, {Isa::kAvx2, Isa::kAvx512, Isa::kVnni, Isa::kAmx})) {
    case Isa::kAmx:
      return direct_conv_kernels_amx();
    case Isa::kVnni:
      return direct_conv_kernels_vnni();
    case Isa::kAvx512:
      return direct_conv_kernels_avx512();
    case Isa::kAvx2:
      return direct_conv_kernels_avx2();
    default:
      return direct_conv_kernels_scalar();
  }
}

FloatConvKernels float_conv_kernels(Isa active) {
  switch (pick_isa(active, {Isa::kAvx2, Isa::kAvx512})) {
    case Isa::kAvx512:
      return float_conv_kernels_avx512();
    case Isa::kAvx2:
      return float_conv_kernels_avx2();
    default:
      return float_conv_kernels_scalar();
  }
}

}  // namespace sparq::kernels
