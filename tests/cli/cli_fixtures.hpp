// Files the command-line tests run on, made with the public API: small
// Fashion-MNIST-shaped classifiers (random weights, pruned to a density k),
// models of the wrong kind, images in every format (and broken ones) and a
// small IDX dataset.
#pragma once

#include <filesystem>
#include <string>

#include "sparq/sparq.hpp"

namespace sparq::cli_test {

// 1x28x28 f32 -> quantize -> sparse 3x3 (1->8, k) -> max pool -> quantize ->
// sparse 3x3 (8->16, k) -> max pool -> flatten -> fully connected -> softmax,
// with the Fashion-MNIST labels and preprocessing.
Model make_classifier(int density, uint32_t seed, int conv2_activation_bits = 8);

// Valid models that are not image classifiers: a feature extractor (output
// [8, 28, 28]) and a classifier of flat vectors (input [784]).
Model make_feature_extractor();
Model make_vector_classifier();

// image -> static s8 quantize -> sparse 3x3 (1->8, k=3) fused with a static
// u8 quantize (scale 1/16, as fold_static_quantize makes it) -> sparse 3x3
// (8->8) -> global average pool.
Model make_fused_features();

// Writes everything into `dir`:
//   classifier_k{9,3,1}.sparq, features.sparq, vector.sparq, corrupt.sparq,
//   shirt.png (28x28 gray), big.jpg (64x48 RGB), small.pgm (20x20), tile.bmp,
//   notes.txt, truncated.png, truncated.jpg, empty.png, input.f32 (one sample),
//   short.f32 (one float short), tiny-images-idx3-ubyte / tiny-labels-idx1-ubyte
//   (20 samples), lonely-images-idx3-ubyte (no labels beside it).
void write_fixtures(const std::filesystem::path& dir);

}  // namespace sparq::cli_test
