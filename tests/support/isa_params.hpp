// What the kernel tests parameterised over ISAs share: every ISA level (a
// suite skips those the CPU lacks), test names from kernels::isa_name, and
// the AMX tile program's paths on its portable model.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "kernels/isa/isa.hpp"
#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"

namespace sparq::testing {

inline const auto kEveryIsa =
    ::testing::Values(kernels::Isa::kScalar, kernels::Isa::kAvx2, kernels::Isa::kAvx512,
                      kernels::Isa::kVnni, kernels::Isa::kAmx);

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
