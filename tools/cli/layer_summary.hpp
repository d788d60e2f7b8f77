// What `inspect` (and `sweep`) know about one layer without running it:
// density, sharing, weight bytes in three encodings, MACs, quantization and
// the kernel the CPU backend would pick.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sparq/sparq.hpp"

namespace sparq::cli {

struct LayerSummary {
  std::string name;
  std::string op;
  std::string input_shape;   // per sample
  std::string output_shape;  // per sample
  int density = 0;           // k of a pruned 3x3 layer; 0 for others
  std::string sharing;       // "16x4" (out x in channels), "none", or "" (not pruned)
  int64_t weight_count = 0;  // dense weight elements (0: no weights)
  int64_t packed_bytes = 0;  // as stored in the model file
  int64_t dense_s4_bytes = 0;
  int64_t fp32_bytes = 0;
  MacCount macs;
  std::string quantization;
  // A static quantize node's scale, or the scale a layer fused with one
  // writes (0: dynamic or no quantize).
  float activation_scale = 0;
  std::string cpu_kernel;  // empty when the CPU backend is not in this build
  // Pruned 3x3 layers: the CPU planner's dense cost / pruned cost (0 otherwise).
  double predicted_speedup = 0;
};

std::vector<LayerSummary> summarize_layers(const Model& model);

// k of the pruned layers when they all agree; 9 when there are none (dense);
// 0 when they differ.
int uniform_density(const Model& model);

}  // namespace sparq::cli
