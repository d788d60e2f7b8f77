// Turns an imported float graph into the quantized graph sparq's CPU and
// device backends run, with sparq-train's export rules (docs/NUMERICS.md):
// the first convolution (reading the image) gets signed 8-bit activations and
// s8 weights; every later 3x3, pad 1, stride 1 or 2, ungrouped convolution
// becomes a SparseConv3x3Op with s4 taps (its zero taps pruned, `act_bits`
// activations); other convolutions and fully connected layers get s8
// weights; everything else stays float. Activations that cannot be negative
// (after ReLU / ReLU6, pooling or concatenation of such) are quantized
// unsigned, others signed 8-bit.
#pragma once

#include <vector>

#include "sparq/graph.hpp"

namespace sparq::onnx_import {

// Taps kept per kernel of f32 [O, I, 3, 3] weights: the largest count of
// nonzero taps of any kernel (1..9; 1 for an all-zero layer), and whether
// every kernel keeps exactly that many.
struct TapCount {
  int density = 9;
  bool uniform = true;
};
TapCount count_taps(std::span<const float> weights, int out_channels, int in_channels);

// The largest sharing (out_group x in_group, powers of two up to 64) whose
// groups keep one tap pattern; {1, 1} when none larger holds or density is 9.
PatternSharing detect_sharing(std::span<const float> weights, int out_channels, int in_channels);

// A mask keeping every nonzero tap and, in kernels with fewer, the lowest zero
// positions until each kernel keeps `density` taps (zero-valued taps cost
// nothing in accuracy; the format needs one count per layer).
std::vector<uint8_t> density_mask(std::span<const float> weights, int out_channels, int in_channels,
                                  int density);

struct QuantizedGraph {
  Graph graph;
  std::vector<size_t> source_node;  // per node: the float node it came from
};
QuantizedGraph quantize_imported(const Graph& graph, int act_bits);

}  // namespace sparq::onnx_import
