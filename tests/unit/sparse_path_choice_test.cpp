// The sparse 3x3 planner scores paths from tap statistics and packs only the
// winner; it must choose what the planner that packed every candidate chose.
// tests/data/sparse_path_choices.txt holds those choices for 400 random
// layers (tests/support/sparse_layer_cases.hpp) at each ISA level, recorded
// on the earlier build (see the file's header).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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

// The planner scores paths without packing them; every path's cost must be
// the one the packing planner computed (so ties break the same way), for the
// AMX tile program too, which no CPU here runs. Packing still counts the
// entries, which must not have changed either.
TEST(SparsePathChoice, EveryPathCostsWhatPackingItCost) {
  if (!kernels::isa_supported(Isa::kAvx512)) {
    GTEST_SKIP() << "the cost table was recorded at AVX-512; this CPU has "
                 << kernels::isa_name(kernels::hardware_isa());
  }
  std::ifstream table(SPARQ_SOURCE_DIR "/tests/data/sparse_path_costs.txt");
  ASSERT_TRUE(table) << "tests/data/sparse_path_costs.txt is missing";
  std::string line;
  int index = -1, checked = 0;
  std::vector<testing::PathCost> costs;
  size_t next = 0;
  auto finish_case = [&] {
    EXPECT_EQ(next, costs.size()) << "case " << index << ": more paths than recorded";
  };
  while (std::getline(table, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    int case_index = 0, layout = 0, axis = 0, out_block = 0, pixel_vecs = 0;
    std::string isa;
    double cost = 0;
    long long entries = 0;
    ASSERT_TRUE(fields >> case_index >> isa >> layout >> axis >> out_block >> pixel_vecs >> cost >>
                entries)
        << "bad line: " << line;
    if (case_index != index) {
      if (index >= 0) finish_case();
      index = case_index;
      costs = testing::path_costs(testing::sparse_layer_case(index));
      next = 0;
    }
    ASSERT_LT(next, costs.size()) << "case " << index << ": fewer paths than recorded";
    const testing::PathCost& got = costs[next++];
    const std::string path = std::string(kernels::isa_name(got.path.isa)) + " " +
                             std::to_string(static_cast<int>(got.path.layout)) + " " +
                             std::to_string(static_cast<int>(got.path.axis)) + " " +
                             std::to_string(got.path.out_block) + " " +
                             std::to_string(got.path.pixel_vecs);
    EXPECT_EQ(path, isa + " " + std::to_string(layout) + " " + std::to_string(axis) + " " +
                        std::to_string(out_block) + " " + std::to_string(pixel_vecs))
        << "case " << index;
    EXPECT_EQ(got.cost, cost) << "case " << index << " path " << path;
    EXPECT_EQ(got.entries, entries) << "case " << index << " path " << path;
    ++checked;
  }
  finish_case();
  EXPECT_GT(checked, 5000);
}

}  // namespace
}  // namespace sparq
