// Random pruned 3x3 layers for the sparse planner's choice table
// (tests/data/sparse_path_choices.txt): a case number fixes the shape, the
// density, the pattern sharing and the tap values. The generator is a
// splitmix64 stream, so every standard library draws the same layers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"
#include "sparq/sparse_format.hpp"

namespace sparq::testing {

struct SparseLayerCase {
  kernels::Sparse3x3Problem problem;
  // How kernels share tap positions: 0 none, 1 groups of 4 input channels of
  // one output channel, 2 every output channel of one input channel, 3 all.
  int sharing = 0;
  std::vector<uint8_t> taps;
  std::vector<float> weight_scales, bias;

  std::string describe() const {
    const kernels::Sparse3x3Problem& p = problem;
    return std::to_string(p.in_channels) + " " + std::to_string(p.out_channels) + " " +
           std::to_string(p.height) + " " + std::to_string(p.width) + " " +
           std::to_string(p.stride) + " " + std::to_string(p.density) + " " +
           (p.signed_input ? "s8" : "u8") + " " + std::to_string(sharing);
  }
};

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi] (the modulo bias is irrelevant here).
  int between(int lo, int hi) {
    return lo + static_cast<int>(next() % static_cast<uint64_t>(hi - lo + 1));
  }

 private:
  uint64_t state_;
};

// Case `index`: mostly small odd shapes, every eighth a ResNet-like one.
inline SparseLayerCase sparse_layer_case(int index) {
  SplitMix64 gen(0x5eed0000u + static_cast<uint64_t>(index));
  SparseLayerCase c;
  kernels::Sparse3x3Problem& p = c.problem;
  if (index % 8 == 7) {
    const int stage = gen.between(0, 3);
    p.in_channels = 64 << stage;
    p.out_channels = 64 << stage;
    p.height = p.width = 56 >> stage;
  } else {
    p.in_channels = gen.between(1, 96);
    p.out_channels = gen.between(1, 96);
    p.height = gen.between(1, 40);
    p.width = gen.between(1, 40);
  }
  p.stride = gen.between(1, 2);
  p.density = gen.between(1, 9);
  p.signed_input = gen.between(0, 3) == 0;
  c.sharing = gen.between(0, 3);
  const int O = p.out_channels, I = p.in_channels;
  // The kept positions of kernel (o, i): drawn per pattern owner.
  auto owner = [&](int o, int i) -> int64_t {
    switch (c.sharing) {
      case 1:
        return int64_t{o} * I + i / 4 * 4;
      case 2:
        return i;
      case 3:
        return 0;
      default:
        return int64_t{o} * I + i;
    }
  };
  std::vector<uint16_t> masks(static_cast<size_t>(O) * I, 0);
  for (int o = 0; o < O; ++o) {
    for (int i = 0; i < I; ++i) {
      const int64_t from = owner(o, i);
      const auto here = static_cast<size_t>(int64_t{o} * I + i);
      if (from != int64_t{o} * I + i) {
        masks[here] = masks[static_cast<size_t>(from)];
        continue;
      }
      uint16_t mask = 0;
      for (int kept = 0; kept < p.density;) {
        const int position = gen.between(0, 8);
        if ((mask >> position) & 1) continue;
        mask = static_cast<uint16_t>(mask | (1u << position));
        ++kept;
      }
      masks[here] = mask;
    }
  }
  c.taps.reserve(static_cast<size_t>(O) * I * p.density);
  for (size_t k = 0; k < masks.size(); ++k) {
    for (int position = 0; position < 9; ++position) {
      if ((masks[k] >> position) & 1) c.taps.push_back(make_tap(position, gen.between(-8, 7)));
    }
  }
  for (int o = 0; o < O; ++o) {
    c.weight_scales.push_back(0.01f * static_cast<float>(gen.between(1, 100)));
    c.bias.push_back(0.1f * static_cast<float>(gen.between(-10, 10)));
  }
  return c;
}

// One path's plan as packing it reports: the estimated cost and the entries.
struct PathCost {
  kernels::Sparse3x3Path path;
  double cost = 0;
  int64_t entries = 0;
};

// Every candidate path at AVX-512 (as far as this CPU goes), then, for
// unsigned inputs, the AMX tile program's 10 register blocks on the emulated
// tile unit (their plan is the real unit's).
inline std::vector<PathCost> path_costs(const SparseLayerCase& c) {
  using kernels::SparseConv3x3Kernel;
  std::vector<PathCost> costs;
  for (const kernels::Sparse3x3Path& path :
       SparseConv3x3Kernel::candidate_paths(c.problem, kernels::Isa::kAvx512)) {
    const auto kernel = SparseConv3x3Kernel::create_on_path(c.problem, c.taps, c.weight_scales,
                                                            c.bias, Activation::kRelu, path);
    costs.push_back({path, kernel.estimated_cost(), kernel.entry_count()});
  }
  if (c.problem.signed_input || !kernels::isa_supported(kernels::Isa::kAvx512)) return costs;
  for (int channel_tiles = 1; channel_tiles <= 4; ++channel_tiles) {
    for (int pixel_vecs = 1; pixel_vecs <= 7 / (channel_tiles + 1); ++pixel_vecs) {
      kernels::Sparse3x3Path path;
      path.isa = kernels::Isa::kAmx;
      path.layout = kernels::LaneLayout::kQuad;
      path.out_block = 16 * channel_tiles;
      path.pixel_vecs = pixel_vecs;
      path.vector_pixels = 16;
      const auto kernel = SparseConv3x3Kernel::create_emulating_tiles(
          c.problem, c.taps, c.weight_scales, c.bias, Activation::kRelu, path);
      costs.push_back({path, kernel.estimated_cost(), kernel.entry_count()});
    }
  }
  return costs;
}

}  // namespace sparq::testing
