// Small random-weight models that together use every operation, attribute
// and weight encoding the .sparq format stores. The model file tests round
// trip them, the corruption tests mutate them, and the loader fuzzer starts
// from them (tests/fuzz/write_seed_corpus.cpp).
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "sparq/sparq.hpp"

namespace sparq::testing {

// A pruned 3x3 layer with random taps (`density` per kernel, `sharing`),
// positive weight scales and small biases.
SparseConv3x3Op random_sparse(std::mt19937& gen, int out, int in, int density, int stride,
                              PatternSharing sharing, Activation activation);

// Metadata with every field set: preprocessing with per-channel mean/std,
// `classes` labels (one non-ASCII), provenance entries.
ModelMetadata sample_metadata(const std::string& name, int channels, int classes);

// 1x12x12 -> quantize u8 -> conv3x3 s8 (8, relu) -> quantize -> pruned 3x3
// (16, relu, `sharing`) -> max pool -> quantize u4 -> pruned 3x3 (16, stride
// 2, relu) -> quantize -> pruned 3x3 (16, relu) -> flatten -> quantize s8 ->
// FC s8 (10) -> softmax. Every pruned layer keeps `density` taps per kernel.
Model build_tiny_sparse_cnn(uint32_t seed, int density, PatternSharing sharing = {});

// A residual block and the float / 4-bit variants: 4x8x8 -> conv3x3 f32
// (relu) -> quantize s8 -> pruned 3x3 (k=3) -> add (relu) with the conv ->
// avg pool 3x3/1 pad 1 -> quantize u4 -> depthwise conv3x3/2 s4 -> relu6 ->
// global average pool -> FC f32 (5) -> softmax; second output: the u4
// tensor dequantized. Unnamed nodes get the builder's default names.
Model build_op_zoo_model(uint32_t seed);

// The operations ONNX import adds: 3x6x6 -> channel_affine (per channel) ->
// conv3x3 f32 (4) -> sigmoid; concat(conv, sigmoid) -> broadcast_mul by its
// global mean per channel -> clamp [-0.5, 1.5] -> avg pool 3x3/2 pad 1
// excluding padding -> broadcast_sub of itself -> channel_affine (scalar) ->
// broadcast_add of itself -> flatten -> FC f32 (4) -> log_softmax.
Model build_imported_ops_model(uint32_t seed);

}  // namespace sparq::testing
