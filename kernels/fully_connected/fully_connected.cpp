#include "kernels/fully_connected/fully_connected.hpp"

#include "kernels/common/pick_isa.hpp"

namespace sparq::kernels {

FullyConnectedKernels fully_connected_kernels(Isa active) {
  switch (pick_isa(active, {Isa::kAvx2, Isa::kAvx512, Isa::kVnni})) {
    case Isa::kVnni:
      return fully_connected_kernels_vnni();
    case Isa::kAvx512:
      return fully_connected_kernels_avx512();
    case Isa::kAvx2:
      return fully_connected_kernels_avx2();
    default:
      return fully_connected_kernels_scalar();
  }
}

}  // namespace sparq::kernels
