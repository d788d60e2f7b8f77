// Helpers shared by the tests: seeded random tensors and graphs.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sparq/sparq.hpp"

namespace sparq::testing {

// A fixed-seed generator; tests print their seed parameters in failures.
std::mt19937 rng(uint32_t seed);

// Uniform in [lo, hi].
int pick(std::mt19937& gen, int lo, int hi);
std::vector<float> random_floats(std::mt19937& gen, size_t count, float lo, float hi);
Tensor random_f32(std::mt19937& gen, const Shape& shape, float lo = -1.0f, float hi = 1.0f);
// Floats with the values that trip up vector code: NaN, infinities, -0, +0
// and 6 among values in [-3, 3]. Without `nan` the only NaN that can arise is
// inf - inf (one bit pattern), for sums where two NaNs of different payloads
// could meet and the reference compiler is free to pick either operand's.
Tensor awkward_f32(std::mt19937& gen, const Shape& shape, bool nan = true);
// Random quantized activations with random per-sample scales.
Tensor random_u8(std::mt19937& gen, const Shape& shape, int qmax = 255);
Tensor random_s8(std::mt19937& gen, const Shape& shape);  // -128..127

// Random N-of-9 taps (values -8..7, any pattern, or shared per group).
std::vector<uint8_t> random_taps(std::mt19937& gen, int out_channels, int in_channels, int density,
                                 PatternSharing sharing = {});

// A small pruned layer for graph tests: k = 3 random taps, weight scales
// in [0.01, 0.05], biases in [-0.5, 0.5].
SparseConv3x3Op small_sparse_layer(int in_channels, int out_channels, uint32_t seed,
                                   Activation activation = Activation::kRelu);

// A random pruned 3x3 layer: 1-13 input channels, [min_out, max_out]
// output channels, stride 1 or 2, `density` taps per kernel, a sharing drawn
// from `sharings`, no activation, ReLU or ReLU6, weight scales in
// [0.001, 0.05] and biases in [-2, 2].
SparseConv3x3Op random_sparse_layer(std::mt19937& gen, int min_out, int max_out, int density,
                                    std::span<const PatternSharing> sharings);

// The node of `graph` named `name`, or null.
const Node* find_node(const Graph& graph, const std::string& name);

// Max |a - b| over two f32 tensors of the same shape.
float max_abs_diff(const Tensor& a, const Tensor& b);
// Bytes equal (shape, dtype, data and scales).
::testing::AssertionResult bit_equal(const Tensor& a, const Tensor& b);

// The first 1, 2, ... N samples of `input` (f32 [N, ...]) through sessions
// `a` and `b`: the same bits at every batch size (gtest failures name `what`).
void expect_same_bits_per_batch(const Session& a, const Session& b, const Tensor& input,
                                const std::string& what);

// Session options with these backends and threads, everything else default
// (an aggregate initializer would name every field or draw
// -Wmissing-field-initializers).
SessionOptions session_options(std::vector<std::string> backends, int threads);

// A session graph pass against the same model without it: a reference
// session with the pass switched off (`disable`) keeps the nodes the pass
// fuses away (`fused_nodes` counts them in a session's placements, at least
// one), CPU sessions with it on at 1-3 threads have none and give the same
// bits at every batch size of `input`, and a session that may place nodes
// on the device keeps them all. Returns how many the unfolded session has.
int64_t expect_fold_agrees_bit_for_bit(const std::shared_ptr<const Model>& model,
                                       const Tensor& input, void (*disable)(SessionOptions&),
                                       int64_t (*fused_nodes)(const Session&));

// write_model refuses `graph`, a graph pass's fused form, with kInvalidModel
// and a message naming `pass`.
void expect_no_file_form(const Graph& graph, const std::string& pass);

}  // namespace sparq::testing
