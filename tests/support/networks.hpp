// Random-weight networks of real shapes, built through the public API the way
// a user would: float weights, gradual pruning to density k, s4 quantization,
// packing. Tests, benchmarks and the device model share them.
#pragma once

#include <cstdint>
#include <random>

#include "sparq/sparq.hpp"

namespace sparq::testing {

struct NetworkOptions {
  int density = 9;           // k of every pruned 3x3 layer
  PatternSharing sharing{};  // pattern groups of the pruned layers
  int activation_bits = 8;   // 8, or 4 (the chip's mode) for pruned layers' inputs
  uint32_t seed = 1;
};

// 1x28x28 -> conv3x3 8-bit (16) -> pruned 3x3 (32) -> maxpool -> pruned 3x3
// (32, stride 2) -> pruned 3x3 (64) -> GAP -> FC 8-bit (10) -> softmax.
Model build_five_layer_cnn(const NetworkOptions& options);

// ResNet-18 (basic blocks 2-2-2-2, widths width..8*width) on a 3 x image x
// image input: 7x7/2 8-bit stem, max pool, pruned 3x3 convolutions (stride 1
// and 2), 1x1/2 8-bit shortcuts, residual adds, GAP, 8-bit FC.
Model build_resnet18(const NetworkOptions& options, int image = 224, int width = 64,
                     int classes = 1000);

// ResNet-20 (CIFAR: basic blocks 3-3-3, widths width..4*width) on a 3 x
// image x image input: 3x3 8-bit stem, pruned 3x3 convolutions, 1x1/2 8-bit
// shortcuts, residual adds, GAP, 8-bit FC.
Model build_resnet20(const NetworkOptions& options, int image = 32, int width = 16,
                     int classes = 10);

// A pruned 3x3 layer from random float weights via prune_to_density and
// make_sparse_conv3x3 (the library's own pipeline).
SparseConv3x3Op random_pruned_conv(std::mt19937& gen, int out_channels, int in_channels, int stride,
                                   const NetworkOptions& options, Activation activation);

}  // namespace sparq::testing
