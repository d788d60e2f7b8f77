// The sparse 3x3 planner scores paths from tap statistics and packs only the
// winner; it must choose what the planner that packed every candidate chose.
// tests/data/sparse_path_choices.txt holds those choices for 400 random
// layers (tests/support/sparse_layer_cases.hpp) at each ISA level, recorded
// on the earlier build (see the file's header).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "kernels/isa/isa.hpp"
#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"
#include "tests/support/sparse_layer_cases.hpp"

namespace sparq {
namespace {

using kernels::Isa;

Isa isa_named(const std::string& name) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kVnni, Isa::kAmx}) {
    if (name == kernels::isa_name(isa)) return isa;
  }
  ADD_FAILURE() << "unknown ISA " << name;
  return Isa::kScalar;
}

TEST(SparsePathChoice, SameChoiceAsPackingEveryCandidate) {
  std::ifstream table(SPARQ_SOURCE_DIR "/tests/data/sparse_path_choices.txt");
  ASSERT_TRUE(table) << "tests/data/sparse_path_choices.txt is missing";
  std::string line;
  int checked = 0, skipped = 0, last_index = -1;
  testing::SparseLayerCase layer;
  while (std::getline(table, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    int index = 0;
    std::string isa_text, want;
    ASSERT_TRUE(fields >> index >> isa_text >> want) << "bad line: " << line;
    const Isa isa = isa_named(isa_text);
    if (!kernels::isa_supported(isa)) {
      ++skipped;
      continue;
    }
    if (index != last_index) {
      layer = testing::sparse_layer_case(index);
      last_index = index;
    }
    const auto kernel = kernels::SparseConv3x3Kernel::create(
        layer.problem, layer.taps, layer.weight_scales, layer.bias, Activation::kRelu, isa);
    EXPECT_EQ(kernel.name(), want)
        << "case " << index << " (" << layer.describe() << ") at " << isa_text;
    ++checked;
  }
  EXPECT_EQ(checked + skipped, 1200);
  EXPECT_GT(checked, 0) << "this CPU supports none of the recorded ISA levels";
}

}  // namespace
}  // namespace sparq
