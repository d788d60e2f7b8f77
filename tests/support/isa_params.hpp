// What the kernel tests parameterised over ISAs share: every ISA level (a
// suite skips those the CPU lacks), test names from kernels::isa_name, a
// sparse layer's kernel-level problem, and the AMX tile program's paths on
// its portable model.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/isa/isa.hpp"
#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"
#include "sparq/ops.hpp"
#include "sparq/shape.hpp"

namespace sparq::testing {

inline const auto kEveryIsa =
    ::testing::Values(kernels::Isa::kScalar, kernels::Isa::kAvx2, kernels::Isa::kAvx512,
                      kernels::Isa::kVnni, kernels::Isa::kAmx);

// A suite over kEveryIsa that skips the ISAs this CPU lacks.
class IsaTest : public ::testing::TestWithParam<kernels::Isa> {
 protected:
  void SetUp() override {
    if (!kernels::isa_supported(GetParam()))
      GTEST_SKIP() << "this CPU lacks " << kernels::isa_name(GetParam());
  }
};

// The kernel-level problem of a sparse layer on [C, H, W] `input` samples.
inline kernels::Sparse3x3Problem sparse_problem(const SparseConv3x3Op& op, const Shape& input,
                                                DType input_dtype) {
  kernels::Sparse3x3Problem p;
  p.in_channels = op.in_channels;
  p.out_channels = op.out_channels;
  p.height = static_cast<int>(input[1]);
  p.width = static_cast<int>(input[2]);
  p.stride = op.stride;
  p.density = op.density;
  p.signed_input = input_dtype == DType::kS8;
  return p;
}

// `op`'s kernel on each path of `problem` the planner considers on `isa`
// (SparseConv3x3Kernel::candidate_paths).
inline std::vector<kernels::SparseConv3x3Kernel> candidate_kernels(
    const kernels::Sparse3x3Problem& problem, const SparseConv3x3Op& op, kernels::Isa isa) {
  std::vector<kernels::SparseConv3x3Kernel> kernels;
  for (const kernels::Sparse3x3Path& path :
       kernels::SparseConv3x3Kernel::candidate_paths(problem, isa)) {
    kernels.push_back(kernels::SparseConv3x3Kernel::create_on_path(
        problem, op.taps, op.weight_scales, op.bias, op.activation, path));
  }
  return kernels;
}

inline std::string isa_test_name(const ::testing::TestParamInfo<kernels::Isa>& info) {
  return kernels::isa_name(info.param);
}

// The tile program's path with `channel_tiles` tiles of 16 output channels
// and one pixel tile (SparseConv3x3Kernel::create_emulating_tiles).
inline kernels::Sparse3x3Path emulated_tile_path(int channel_tiles) {
  kernels::Sparse3x3Path path;
  path.isa = kernels::Isa::kAmx;
  path.layout = kernels::LaneLayout::kQuad;
  path.out_block = 16 * channel_tiles;
  path.pixel_vecs = 1;
  path.vector_pixels = 16;
  return path;
}

}  // namespace sparq::testing
