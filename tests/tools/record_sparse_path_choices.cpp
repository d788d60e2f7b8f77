// Prints the sparse planner's choice for every case of
// tests/support/sparse_layer_cases.hpp at the scalar, AVX2 and AVX-512 levels
// this CPU supports: one line "case isa kernel-name". Its output, from the
// build before the planner scored paths without packing them, is
// tests/data/sparse_path_choices.txt (sparse_path_choice_test compares the
// planner against it).
#include <cstdio>
#include <cstdlib>

#include "kernels/isa/isa.hpp"
#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"
#include "tests/support/sparse_layer_cases.hpp"

int main(int argc, char** argv) {
  using sparq::kernels::Isa;
  const int cases = argc > 1 ? std::atoi(argv[1]) : 400;
  for (int index = 0; index < cases; ++index) {
    const sparq::testing::SparseLayerCase c = sparq::testing::sparse_layer_case(index);
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      if (!sparq::kernels::isa_supported(isa)) continue;
      const auto kernel = sparq::kernels::SparseConv3x3Kernel::create(
          c.problem, c.taps, c.weight_scales, c.bias, sparq::Activation::kRelu, isa);
      std::printf("%d %s %s\n", index, sparq::kernels::isa_name(isa), kernel.name().c_str());
    }
  }
  return 0;
}
