// Prints the sparse planner's choice for every case of
// tests/support/sparse_layer_cases.hpp at the scalar, AVX2 and AVX-512 levels
// this CPU supports: one line "case isa kernel-name". Its output, from the
// build before the planner scored paths without packing them, is
// tests/data/sparse_path_choices.txt (sparse_path_choice_test compares the
// planner against it). With "costs" as the second argument it prints instead
// tests/data/sparse_path_costs.txt: every candidate path's estimated cost and
// entry count at AVX-512, then the emulated AMX tile blocks'.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernels/isa/isa.hpp"
#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"
#include "tests/support/sparse_layer_cases.hpp"

int main(int argc, char** argv) {
  using sparq::kernels::Isa;
  const int cases = argc > 1 ? std::atoi(argv[1]) : 400;
  if (argc > 2 && std::string(argv[2]) == "costs") {
    for (int index = 0; index < cases; ++index) {
      const sparq::testing::SparseLayerCase c = sparq::testing::sparse_layer_case(index);
      for (const sparq::testing::PathCost& cost : sparq::testing::path_costs(c)) {
        std::printf("%d %s %d %d %d %d %.17g %lld\n", index,
                    sparq::kernels::isa_name(cost.path.isa), static_cast<int>(cost.path.layout),
                    static_cast<int>(cost.path.axis), cost.path.out_block, cost.path.pixel_vecs,
                    cost.cost, static_cast<long long>(cost.entries));
      }
    }
    return 0;
  }
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
