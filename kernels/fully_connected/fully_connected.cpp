#include "kernels/fully_connected/fully_connected.hpp"

#include <algorithm>

#include "kernels/common/pick_isa.hpp"

namespace sparq::kernels {

void pack_fc_quant_groups(const int8_t* w, int64_t out, int64_t in, int8_t* groups) {
  const int64_t quads = (in + 3) / 4;
  std::fill_n(groups, fc_quant_group_bytes(out, in), int8_t{0});
  for (int64_t o = 0; o < out; ++o) {
    int8_t* group = groups + o / kFcQuantGroup * quads * kFcQuantGroup * 4;
    for (int64_t i = 0; i < in; ++i) {
      group[(i / 4 * kFcQuantGroup + o % kFcQuantGroup) * 4 + i % 4] = w[o * in + i];
    }
  }
}

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
