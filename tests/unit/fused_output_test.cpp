// The fused static output quantization of quantized convolutions
// (OutputQuantization) and the graph pass that makes it
// (fold_static_quantize):
// - every CPU sparse 3x3 path (each candidate path of every ISA present,
//   the emulated tile program too) and every CPU dense conv path writes the
//   reference backend's fused bytes, over random shapes, densities, strides,
//   pattern sharings, activations, u8/s8 inputs, u8/u4/s8 outputs, 1-3
//   threads, batches > 1 and scales small enough that values clamp;
// - the reference's fused node equals its unfused pair (the convolution, then
//   a static QuantizeOp node) byte for byte: an independent check of the
//   fused reference path;
// - the pass folds exactly the single-reader, non-output, static,
//   quantized-mode cases, and a session gives the same bytes with it on or
//   off on a small residual network;
// - validation refuses fused attributes no quantize op could hold, in memory
//   and in a model file, and a folded graph survives a file round trip.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/isa/isa.hpp"
#include "kernels/isa/isa_override.hpp"
#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"
#include "runtime/backends/cpu/cpu_nodes.hpp"
#include "runtime/backends/cpu/sparse_conv3x3_workers.hpp"
#include "runtime/backends/device/device_model.hpp"
#include "runtime/model/model_format.hpp"
#include "sparq/sparq.hpp"
#include "tests/support/isa_params.hpp"
#include "tests/support/larger_arena.hpp"
#include "tests/support/node_runner.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

using kernels::Isa;
using kernels::ScopedIsa;

using testing::pick;

// A random quantized input batch: u8 (0..qmax) or s8, per-sample scales.
Tensor random_activations(std::mt19937& gen, const Shape& shape, DType dtype, int qmax = 255) {
  Tensor t(shape, dtype);
  for (uint8_t& v : t.span<uint8_t>()) {
    v = dtype == DType::kS8 ? static_cast<uint8_t>(static_cast<int8_t>(pick(gen, -128, 127)))
                            : static_cast<uint8_t>(pick(gen, 0, qmax));
  }
  for (float& s : t.scales()) s = std::uniform_real_distribution<float>(0.002f, 0.1f)(gen);
  return t;
}

// A random fused output format.
OutputQuantization random_format(std::mt19937& gen) {
  OutputQuantization q;
  switch (pick(gen, 0, 2)) {
    case 0:
      q.is_signed = true;
      break;
    case 1:
      q.bits = 4;
      break;
    default:
      break;
  }
  return q;
}

// A static scale for outputs of magnitude up to `largest`: a third of the
// draws put the largest values far past qmax, so the clamp is exercised.
float random_scale(std::mt19937& gen, float largest, const OutputQuantization& q) {
  const float qmax = q.is_signed ? 127.0f : static_cast<float>((1 << q.bits) - 1);
  const float factors[] = {0.2f, 1.0f, 1.7f};
  return std::max(largest, 1e-3f) / qmax * factors[pick(gen, 0, 2)];
}

float largest_magnitude(const Tensor& f32) {
  float m = 0.0f;
  for (float v : f32.span<float>()) m = std::max(m, std::fabs(v));
  return m;
}

DType fused_dtype(const OutputQuantization& q) {
  return q.is_signed ? DType::kS8 : DType::kU8;
}

std::string describe(const OutputQuantization& q) {
  return std::string(q.is_signed ? "s8" : "u" + std::to_string(q.bits)) +
         " scale=" + std::to_string(q.scale);
}

// ---- sparse 3x3 -----------------------------------------------------------

struct SparseCase {
  SparseConv3x3Op op;
  Shape input;  // per sample
  DType input_dtype = DType::kU8;
  int input_max = 255;
  std::string text;
};

// The kernel-level problem of a case's layer.
kernels::Sparse3x3Problem problem_of(const SparseCase& c) {
  return testing::sparse_problem(c.op, c.input, c.input_dtype);
}

SparseCase random_sparse(uint32_t seed) {
  std::mt19937 gen = testing::rng(seed);
  SparseCase c;
  const PatternSharing sharings[] = {{1, 1}, {1, 4}, {4, 4}, {16, 4}, {2, 1}};
  c.op = testing::random_sparse_layer(gen, 1, 19, static_cast<int>(seed % 9) + 1, sharings);
  const SparseConv3x3Op& op = c.op;
  c.input = Shape{op.in_channels, pick(gen, 1, 17), pick(gen, 1, 29)};
  c.input_dtype = pick(gen, 0, 2) == 0 ? DType::kS8 : DType::kU8;
  c.input_max = pick(gen, 0, 2) == 0 ? 15 : 255;
  c.text = "I=" + std::to_string(op.in_channels) + " O=" + std::to_string(op.out_channels) +
           " in=" + c.input.to_string() + " s=" + std::to_string(op.stride) +
           " k=" + std::to_string(op.density) + " sharing=" + std::to_string(op.sharing.out_group) +
           "x" + std::to_string(op.sharing.in_group) + " " + to_string(c.input_dtype) +
           " act=" + to_string(op.activation);
  return c;
}

// Sets a random fused format whose scale suits the layer's f32 outputs on
// `input` (from the unfused reference node).
void fuse_for(std::mt19937& gen, const testing::OneNodeGraph& unfused, const Tensor& input,
              OutputQuantization& q) {
  const Tensor f32 = testing::run_on(*BackendRegistry::get("reference"), unfused, {&input}, 1);
  q = random_format(gen);
  q.scale = random_scale(gen, largest_magnitude(f32), q);
}

class FusedSparseKernels : public testing::IsaTest {};

// Runs `kernel` on sample 0 of `input` with the fused output, into a buffer
// of guard bytes with `threads` workers over garbage scratch.
std::vector<uint8_t> run_fused_kernel(const kernels::SparseConv3x3Kernel& kernel,
                                      const Tensor& input, const OutputQuantization& q, int threads,
                                      size_t out_bytes) {
  testing::GuardedBuffer out(out_bytes);
  testing::GuardedBuffer scratch(cpu::sparse_conv3x3_sample_scratch(kernel, threads));
  kernels::Sparse3x3Sample sample;
  sample.input = input.raw();
  sample.act_scale = input.scales()[0];
  sample.output = out.data();
  sample.output_quantization = q;
  testing::run_in_larger_arena(
      threads, [&] { cpu::run_sparse_conv3x3_sample(kernel, sample, scratch.data(), threads); });
  EXPECT_TRUE(out.damaged_guard().empty()) << "output guard " << out.damaged_guard();
  EXPECT_TRUE(scratch.damaged_guard().empty()) << "scratch guard " << scratch.damaged_guard();
  return out.contents();
}

// Every path the planner could pick at this ISA, on one sample.
TEST_P(FusedSparseKernels, EveryPathWritesTheReferenceBytes) {
  ScopedIsa forced(GetParam());
  const auto reference = BackendRegistry::get("reference");
  int paths_run = 0;
  for (uint32_t seed = 0; seed < 36; ++seed) {
    SparseCase c = random_sparse(seed);
    std::mt19937 gen = testing::rng(seed + 5000);
    const Tensor input = random_activations(gen, c.input.with_batch(1), c.input_dtype, c.input_max);
    const auto unfused = testing::one_node_graph("sparse", {{c.input, c.input_dtype}}, c.op);
    fuse_for(gen, unfused, input, c.op.output_quantization);
    const OutputQuantization q = c.op.output_quantization;
    const auto fused = testing::one_node_graph("sparse", {{c.input, c.input_dtype}}, c.op);
    const Tensor want = testing::run_on(*reference, fused, {&input}, 1);
    ASSERT_EQ(want.dtype(), fused_dtype(q));

    const kernels::Sparse3x3Problem p = problem_of(c);
    for (const auto& kernel : testing::candidate_kernels(p, c.op, GetParam())) {
      for (int threads = 1; threads <= 3; ++threads) {
        const std::vector<uint8_t> got = run_fused_kernel(kernel, input, q, threads, want.bytes());
        EXPECT_EQ(0, std::memcmp(got.data(), want.raw(), want.bytes()))
            << kernel.name() << " threads " << threads << " seed " << seed << ": " << c.text
            << " out " << describe(q);
      }
      ++paths_run;
    }
  }
  EXPECT_GT(paths_run, 36);
}

INSTANTIATE_TEST_SUITE_P(Isas, FusedSparseKernels, testing::kEveryIsa, testing::isa_test_name);

// The AMX tile program's epilogue on the portable tile model (CPUs with
// AVX-512), 16 to 64 output channels per block.
TEST(FusedSparseKernels, EmulatedTileProgramWritesTheReferenceBytes) {
  if (!kernels::isa_supported(Isa::kAvx512)) GTEST_SKIP() << "needs AVX-512";
  const auto reference = BackendRegistry::get("reference");
  for (uint32_t seed = 100; seed < 106; ++seed) {
    SparseCase c = random_sparse(seed);
    c.op.out_channels = 40 + static_cast<int>(seed % 3) * 10;
    c.input_dtype = DType::kU8;  // the tile program multiplies u8 activations
    std::mt19937 gen = testing::rng(seed);
    c.op.taps =
        testing::random_taps(gen, c.op.out_channels, c.op.in_channels, c.op.density, c.op.sharing);
    c.op.weight_scales =
        testing::random_floats(gen, static_cast<size_t>(c.op.out_channels), 0.001f, 0.05f);
    c.op.bias = testing::random_floats(gen, static_cast<size_t>(c.op.out_channels), -2.0f, 2.0f);
    const Tensor input = random_activations(gen, c.input.with_batch(1), c.input_dtype, c.input_max);
    const auto unfused = testing::one_node_graph("sparse", {{c.input, c.input_dtype}}, c.op);
    fuse_for(gen, unfused, input, c.op.output_quantization);
    const auto fused = testing::one_node_graph("sparse", {{c.input, c.input_dtype}}, c.op);
    const Tensor want = testing::run_on(*reference, fused, {&input}, 1);
    const kernels::Sparse3x3Problem p = problem_of(c);
    for (int channel_tiles = 1; channel_tiles <= 4; ++channel_tiles) {
      const kernels::Sparse3x3Path path = testing::emulated_tile_path(channel_tiles);
      const auto kernel = kernels::SparseConv3x3Kernel::create_emulating_tiles(
          p, c.op.taps, c.op.weight_scales, c.op.bias, c.op.activation, path);
      const std::vector<uint8_t> got =
          run_fused_kernel(kernel, input, c.op.output_quantization, 2, want.bytes());
      EXPECT_EQ(0, std::memcmp(got.data(), want.raw(), want.bytes()))
          << kernel.name() << " seed " << seed << ": " << c.text << " out "
          << describe(c.op.output_quantization);
    }
  }
}

// ---- the CPU nodes (sparse and dense) against the reference node ------------

struct NodeCase {
  std::string text;
  testing::OneNodeGraph unfused;
  Shape input;
  DType input_dtype;
  int input_max = 255;
};

NodeCase sparse_node_case(uint32_t seed) {
  SparseCase c = random_sparse(seed);
  return {"sparse " + c.text, testing::one_node_graph("layer", {{c.input, c.input_dtype}}, c.op),
          c.input, c.input_dtype, c.input_max};
}

Tensor random_weights(std::mt19937& gen, const Shape& shape, DType dtype) {
  Tensor w(shape, dtype);
  for (uint8_t& b : w.span<uint8_t>()) {
    b = dtype == DType::kS8 ? static_cast<uint8_t>(static_cast<int8_t>(pick(gen, -127, 127)))
                            : static_cast<uint8_t>(pick(gen, 0, 255));  // s4: two nibbles
  }
  return w;
}

// Every dense path of the CPU node: depthwise, first layer (< 4 input
// channels per group), 1x1 (whose tiles otherwise write the planes
// directly) and the general (grouped) direct convolution.
NodeCase dense_node_case(uint32_t seed) {
  std::mt19937 gen = testing::rng(seed);
  const int kind = static_cast<int>(seed % 4);
  Conv2dOp op;
  int64_t in_c = pick(gen, 4, 12);
  int64_t out_c = pick(gen, 1, 20);
  op.kernel_h = op.kernel_w = 3;
  op.stride_h = op.stride_w = pick(gen, 1, 2);
  op.pad_h = op.pad_w = pick(gen, 0, 1);
  std::string kind_name = "direct";
  if (kind == 0) {
    kind_name = "depthwise";
    out_c = in_c;
    op.groups = static_cast<int>(in_c);
  } else if (kind == 1) {
    kind_name = "first_layer";
    in_c = pick(gen, 1, 3);
  } else if (kind == 2) {
    kind_name = "1x1";
    op.kernel_h = op.kernel_w = 1;
    op.pad_h = op.pad_w = 0;
  } else if (pick(gen, 0, 1) == 0) {
    op.groups = 2;
    in_c = 2 * pick(gen, 2, 6);
    out_c = 2 * pick(gen, 1, 8);
  }
  const DType weights = pick(gen, 0, 1) == 0 ? DType::kS8 : DType::kS4;
  op.activation = static_cast<Activation>(pick(gen, 0, 2));
  op.weights =
      random_weights(gen, Shape{out_c, in_c / op.groups, op.kernel_h, op.kernel_w}, weights);
  op.weight_scales = testing::random_floats(gen, static_cast<size_t>(out_c), 0.001f, 0.05f);
  op.bias = testing::random_floats(gen, static_cast<size_t>(out_c), -2.0f, 2.0f);
  const Shape input{in_c, pick(gen, 3, 15), pick(gen, 3, 21)};
  const DType input_dtype = pick(gen, 0, 2) == 0 ? DType::kS8 : DType::kU8;
  const std::string text = "conv2d " + kind_name + " " + std::to_string(in_c) + "to" +
                           std::to_string(out_c) + " in=" + input.to_string() +
                           " s=" + std::to_string(op.stride_h) + " p=" + std::to_string(op.pad_h) +
                           " g=" + std::to_string(op.groups) + " " + to_string(input_dtype) + "x" +
                           to_string(weights) + " act=" + to_string(op.activation);
  return {text, testing::one_node_graph("layer", {{input, input_dtype}}, op), input, input_dtype};
}

// The node of `g` with `q` fused in.
testing::OneNodeGraph with_output(const NodeCase& c, const OutputQuantization& q) {
  OpAttrs op = c.unfused.node().op;
  if (auto* conv = std::get_if<Conv2dOp>(&op)) conv->output_quantization = q;
  if (auto* sparse = std::get_if<SparseConv3x3Op>(&op)) sparse->output_quantization = q;
  return testing::one_node_graph("layer", {{c.input, c.input_dtype}}, op);
}

class FusedCpuNodes : public testing::IsaTest {};

// The CPU backend's node of `fused` writes the reference's bytes for
// `input` at 1 to `max_threads` threads (`what`: the case, for failures).
void expect_reference_bytes(const testing::OneNodeGraph& fused, const Tensor& input,
                            int max_threads, const std::string& what) {
  const Tensor want = testing::run_on(*BackendRegistry::get("reference"), fused, {&input}, 1);
  for (int threads = 1; threads <= max_threads; ++threads) {
    std::string kernel;
    const Tensor got =
        testing::run_on(*BackendRegistry::get("cpu"), fused, {&input}, threads, &kernel);
    EXPECT_TRUE(testing::bit_equal(got, want)) << kernel << " threads " << threads << ": " << what;
  }
}

TEST_P(FusedCpuNodes, BatchesMatchTheReferenceBytesAndScales) {
  ScopedIsa forced(GetParam());
  const auto reference = BackendRegistry::get("reference");
  const auto cpu = BackendRegistry::get("cpu");
  for (uint32_t seed = 0; seed < 48; ++seed) {
    const NodeCase c = seed % 2 == 0 ? sparse_node_case(seed) : dense_node_case(seed / 2);
    std::mt19937 gen = testing::rng(seed + 9000);
    const int64_t batch = 2 + seed % 2;
    const Tensor input =
        random_activations(gen, c.input.with_batch(batch), c.input_dtype, c.input_max);
    OutputQuantization q;
    fuse_for(gen, c.unfused, input, q);
    const testing::OneNodeGraph fused = with_output(c, q);
    ASSERT_TRUE(cpu->supports(fused.graph, fused.node())) << c.text;
    const Tensor want = testing::run_on(*reference, fused, {&input}, 1);
    for (int threads = 1; threads <= 3; ++threads) {
      std::string kernel;
      const Tensor got = testing::run_on(*cpu, fused, {&input}, threads, &kernel);
      EXPECT_TRUE(testing::bit_equal(got, want))
          << kernel << " threads " << threads << " seed " << seed << ": " << c.text << " out "
          << describe(q);
    }
    for (float s : want.scales()) EXPECT_EQ(s, q.scale);
  }
}

// The fused bytes of 1x1 tiles (stored from the tile's registers into the
// output planes) and depthwise planes (on VNNI, u8 planes stored from the
// kernel's registers too): every format, 1x1 output channels past a block of
// 8 and of 32 (planes up to 16x16 with 32 or more channels take the
// channel-lane tiles on VNNI), depthwise 4-bit and 8-bit kernels at strides 1
// and 2, planes with a partial last tile or smaller than one vector, 1 to 3
// threads.
TEST_P(FusedCpuNodes, PointwiseAndDepthwiseWriteTheReferenceBytesInEveryFormat) {
  ScopedIsa forced(GetParam());
  const auto reference = BackendRegistry::get("reference");
  const Shape planes[] = {Shape{1, 1}, Shape{7, 7}, Shape{5, 13}, Shape{14, 14}, Shape{9, 40}};
  uint32_t seed = 0;
  for (const char* kind : {"1x1", "depthwise s1", "depthwise s2"}) {
    const bool depthwise = kind[0] == 'd';
    for (const Shape& plane : planes) {
      for (int format = 0; format < 3; ++format, ++seed) {
        std::mt19937 gen = testing::rng(seed + 7700);
        Conv2dOp op;
        op.activation = static_cast<Activation>(pick(gen, 0, 2));
        int64_t in_c = pick(gen, 1, 40), out_c = pick(gen, 1, 27);
        if (!depthwise && format != 2) out_c = pick(gen, 28, 70);
        if (depthwise) {
          op.kernel_h = op.kernel_w = 3;
          op.pad_h = op.pad_w = 1;
          op.stride_h = op.stride_w = kind[11] == '2' ? 2 : 1;
          out_c = in_c = pick(gen, 1, 12);
          op.groups = static_cast<int>(in_c);
        } else {
          op.kernel_h = op.kernel_w = 1;
        }
        const DType weights = (seed / 3) % 2 == 0 ? DType::kS8 : DType::kS4;
        op.weights =
            random_weights(gen, Shape{out_c, in_c / op.groups, op.kernel_h, op.kernel_w}, weights);
        op.weight_scales = testing::random_floats(gen, static_cast<size_t>(out_c), 0.001f, 0.05f);
        op.bias = testing::random_floats(gen, static_cast<size_t>(out_c), -2.0f, 2.0f);
        const Shape input{in_c, plane[0], plane[1]};
        // s8 outputs from s8 and from u8 inputs (u8 planes of depthwise
        // kernels on VNNI write their bytes themselves).
        const DType input_dtype = format == 1 && seed % 2 == 0 ? DType::kS8 : DType::kU8;
        const NodeCase c{
            std::string(kind) + " " + std::to_string(in_c) + "to" + std::to_string(out_c) +
                " in=" + input.to_string() + " " + to_string(input_dtype) + "x" +
                to_string(weights) + " act=" + to_string(op.activation),
            testing::one_node_graph("layer", {{input, input_dtype}}, op), input, input_dtype};
        const Tensor x = random_activations(gen, input.with_batch(2), input_dtype, 255);
        OutputQuantization q;
        q.is_signed = format == 1;
        q.bits = format == 2 ? 4 : 8;
        q.scale = random_scale(
            gen, largest_magnitude(testing::run_on(*reference, c.unfused, {&x}, 1)), q);
        expect_reference_bytes(with_output(c, q), x, 3, c.text + " out " + describe(q));
      }
    }
  }
}

// On VNNI, u8 depthwise planes one vector wide write their bytes in runs of
// consecutive channels: 25-45 channels of 7x7 and 14x14 planes at strides 1
// and 2, batch 3, so that 2 and 3 threads split the runs mid-sample.
TEST_P(FusedCpuNodes, DepthwiseRunsWriteTheReferenceBytes) {
  ScopedIsa forced(GetParam());
  const auto reference = BackendRegistry::get("reference");
  uint32_t seed = 0;
  for (const int64_t side : {7, 14}) {
    for (const int stride : {1, 2}) {
      std::mt19937 gen = testing::rng(++seed + 7800);
      Conv2dOp op;
      op.activation = static_cast<Activation>(pick(gen, 0, 2));
      op.kernel_h = op.kernel_w = 3;
      op.pad_h = op.pad_w = 1;
      op.stride_h = op.stride_w = stride;
      const int64_t channels = pick(gen, 25, 45);
      op.groups = static_cast<int>(channels);
      op.weights =
          random_weights(gen, Shape{channels, 1, 3, 3}, seed % 2 ? DType::kS8 : DType::kS4);
      op.weight_scales = testing::random_floats(gen, static_cast<size_t>(channels), 0.001f, 0.05f);
      op.bias = testing::random_floats(gen, static_cast<size_t>(channels), -2.0f, 2.0f);
      const Shape input{channels, (side - 1) * stride + 1, (side - 1) * stride + 1};
      const NodeCase c{"depthwise run " + std::to_string(channels) + " in=" + input.to_string() +
                           " act=" + to_string(op.activation),
                       testing::one_node_graph("layer", {{input, DType::kU8}}, op), input,
                       DType::kU8};
      const Tensor x = random_activations(gen, input.with_batch(3), DType::kU8, 255);
      OutputQuantization q;
      q.is_signed = seed % 2 == 0;
      q.scale =
          random_scale(gen, largest_magnitude(testing::run_on(*reference, c.unfused, {&x}, 1)), q);
      expect_reference_bytes(with_output(c, q), x, 3, c.text + " out " + describe(q));
    }
  }
}

// u8 bytes after a ReLU or ReLU6, where AVX-512 rounds the product by the
// scale's reciprocal unclamped and narrows with saturation (Quantize::
// round_saturating_n): round scales (inputs 0.02, weights 0.01, bias 0.1,
// output 0.05) put many values exactly on half-integers (ties to even, the
// exact fallback); an output scale of 1e-7 puts products past 2^31 (the
// conversion's 0x80000000, which must become 255); 1e-35 lies outside the
// reciprocal's range (the divide); no activation for contrast. Every kind
// of layer (sparse, depthwise, first layer, 1x1, direct), 1 and 2 threads.
TEST_P(FusedCpuNodes, ReluBytesOnTiesAndFarPastTheRangeMatchTheReference) {
  ScopedIsa forced(GetParam());
  const float out_scales[] = {0.05f, 1e-7f, 1e-35f};
  for (uint32_t seed = 0; seed < 30; ++seed) {
    NodeCase c = seed % 6 == 5 ? sparse_node_case(seed) : dense_node_case(seed);
    const Activation activation = std::array{Activation::kRelu, Activation::kRelu6,
                                             Activation::kNone}[static_cast<size_t>(seed % 3)];
    OpAttrs op = c.unfused.node().op;
    auto round_scales = [&](auto& layer) {
      layer.activation = activation;
      std::fill(layer.weight_scales.begin(), layer.weight_scales.end(), 0.01f);
      std::fill(layer.bias.begin(), layer.bias.end(), 0.1f);
    };
    if (auto* conv = std::get_if<Conv2dOp>(&op)) round_scales(*conv);
    if (auto* sparse = std::get_if<SparseConv3x3Op>(&op)) round_scales(*sparse);
    c.unfused = testing::one_node_graph("layer", {{c.input, c.input_dtype}}, op);
    std::mt19937 gen = testing::rng(seed + 4400);
    Tensor input = random_activations(gen, c.input.with_batch(2), c.input_dtype, c.input_max);
    for (float& s : input.scales()) s = 0.02f;
    for (const float out_scale : out_scales) {
      OutputQuantization q;
      q.scale = out_scale;
      expect_reference_bytes(with_output(c, q), input, 2,
                             "seed " + std::to_string(seed) + ": " + c.text + " act " +
                                 to_string(activation) + " out " + describe(q));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, FusedCpuNodes, testing::kEveryIsa, testing::isa_test_name);

// ---- the reference's fused node against its unfused pair ------------------

// The layer, then a static QuantizeOp node, as a model.
std::shared_ptr<const Model> conv_then_quantize(const NodeCase& c, const OutputQuantization& q) {
  ModelBuilder b;
  const ValueId x = b.input(c.input, c.input_dtype);
  const Node& node = c.unfused.node();
  const ValueId y = b.add_node(node.op, {x}, "layer");
  b.mark_output(b.quantize_static(y, q.scale, q.bits, q.is_signed, "quantize"));
  return std::make_shared<const Model>(b.build());
}

TEST(FusedReference, EqualsTheConvolutionThenAStaticQuantizeNode) {
  const auto reference = BackendRegistry::get("reference");
  for (uint32_t seed = 0; seed < 40; ++seed) {
    const NodeCase c = seed % 2 == 0 ? sparse_node_case(seed + 300) : dense_node_case(seed + 300);
    std::mt19937 gen = testing::rng(seed + 7000);
    const Tensor input = random_activations(gen, c.input.with_batch(3), c.input_dtype, c.input_max);
    OutputQuantization q;
    fuse_for(gen, c.unfused, input, q);
    SessionOptions unfolded;
    unfolded.backends = {"reference"};
    unfolded.fold_static_quantize = false;
    unfolded.threads = 1;
    const Session pair(conv_then_quantize(c, q), unfolded);
    ASSERT_EQ(pair.placements().size(), 2u);
    const Tensor want = pair.run(input).at(0);
    const Tensor got = testing::run_on(*reference, with_output(c, q), {&input}, 1);
    EXPECT_TRUE(testing::bit_equal(got, want))
        << "seed " << seed << ": " << c.text << " out " << describe(q);
  }
}

// ---- the pass -------------------------------------------------------------

Conv2dOp small_conv(int64_t in_c, int64_t out_c, DType weights, uint32_t seed) {
  std::mt19937 gen = testing::rng(seed);
  Conv2dOp op;
  op.kernel_h = op.kernel_w = 1;
  op.pad_h = op.pad_w = 0;
  op.activation = Activation::kRelu;
  if (weights == DType::kF32) {
    op.weights = testing::random_f32(gen, Shape{out_c, in_c, 1, 1}, -0.5f, 0.5f);
  } else {
    op.weights = random_weights(gen, Shape{out_c, in_c, 1, 1}, weights);
    op.weight_scales = testing::random_floats(gen, static_cast<size_t>(out_c), 0.01f, 0.05f);
  }
  op.bias = testing::random_floats(gen, static_cast<size_t>(out_c), -0.5f, 0.5f);
  return op;
}

const OutputQuantization& fused_of(const Node& node) {
  if (const auto* conv = std::get_if<Conv2dOp>(&node.op)) return conv->output_quantization;
  return std::get<SparseConv3x3Op>(node.op).output_quantization;
}

// The pass on a valid graph, expected to drop `count` quantize nodes; the
// result is valid.
Graph folded(const Graph& before, int count) {
  validate(before);
  int folded_count = -1;
  Graph after = fold_static_quantize(before, &folded_count);
  EXPECT_EQ(folded_count, count);
  validate(after);
  EXPECT_EQ(after.nodes.size(), before.nodes.size() - static_cast<size_t>(count));
  return after;
}

TEST(FoldStaticQuantize, FoldsOnlySingleReaderNonOutputStaticQuantizedLayers) {
  ModelBuilder b;
  const ValueId x = b.input(Shape{4, 6, 6}, DType::kU8);
  // Folded: sparse -> static s8 quantize.
  const ValueId a = b.sparse_conv3x3(x, testing::small_sparse_layer(4, 4, 1), "fold_sparse");
  const ValueId aq = b.quantize_static(a, 0.05f, 8, true, "q_sparse");
  // Folded: dense quantized conv -> static u4 quantize.
  const ValueId c = b.conv2d(aq, small_conv(4, 4, DType::kS8, 2), "fold_conv");
  const ValueId cq = b.quantize_static(c, 0.25f, 4, false, "q_conv");
  // Kept: a dynamic quantize.
  const ValueId d = b.sparse_conv3x3(cq, testing::small_sparse_layer(4, 4, 3), "dynamic");
  const ValueId dq = b.quantize(d, 8, false, "q_dynamic");
  // Kept: two readers (the quantize and an activation).
  const ValueId e = b.sparse_conv3x3(dq, testing::small_sparse_layer(4, 4, 4), "two_readers");
  const ValueId eq = b.quantize_static(e, 0.1f, 8, false, "q_two_readers");
  const ValueId e_relu = b.activation(e, Activation::kRelu, "second_reader");
  // Kept: the layer's output is a graph output.
  const ValueId f = b.sparse_conv3x3(eq, testing::small_sparse_layer(4, 4, 5), "graph_output");
  const ValueId fq = b.quantize_static(f, 0.1f, 8, false, "q_graph_output");
  // Kept: a float-mode convolution.
  const ValueId g = b.conv2d(e_relu, small_conv(4, 4, DType::kF32, 6), "float_conv");
  const ValueId gq = b.quantize_static(g, 0.1f, 8, false, "q_float_conv");
  b.mark_output(f);
  b.mark_output(fq);
  b.mark_output(gq);
  const Graph before = b.graph();
  const Graph after = folded(before, 2);
  EXPECT_EQ(after.values.size(), before.values.size() - 2);
  EXPECT_EQ(testing::find_node(after, "q_sparse"), nullptr);
  EXPECT_EQ(testing::find_node(after, "q_conv"), nullptr);
  const OutputQuantization want_sparse{0.05f, 8, true};
  const OutputQuantization want_conv{0.25f, 4, false};
  EXPECT_EQ(fused_of(*testing::find_node(after, "fold_sparse")), want_sparse);
  EXPECT_EQ(fused_of(*testing::find_node(after, "fold_conv")), want_conv);
  // The fused layers write the quantize's values (names and dtypes kept).
  EXPECT_EQ(after.value(testing::find_node(after, "fold_sparse")->output).name,
            before.value(testing::find_node(before, "q_sparse")->output).name);
  EXPECT_EQ(after.value(testing::find_node(after, "fold_conv")->output).dtype, DType::kU8);
  for (const char* kept : {"dynamic", "two_readers", "graph_output", "float_conv"}) {
    ASSERT_NE(testing::find_node(after, kept), nullptr) << kept;
    EXPECT_FALSE(fused_of(*testing::find_node(after, kept)).enabled()) << kept;
  }
  for (const char* kept : {"q_dynamic", "q_two_readers", "q_graph_output", "q_float_conv"}) {
    EXPECT_NE(testing::find_node(after, kept), nullptr) << kept;
  }
  // Outputs still name the same values.
  ASSERT_EQ(after.outputs.size(), before.outputs.size());
  for (size_t i = 0; i < after.outputs.size(); ++i) {
    EXPECT_EQ(after.value(after.outputs[i]).name, before.value(before.outputs[i]).name);
  }
  // Nothing left to fold: a second pass changes nothing.
  int again = -1;
  fold_static_quantize(after, &again);
  EXPECT_EQ(again, 0);
}

Conv2dOp small_3x3_conv(int64_t in_c, int64_t out_c, Activation activation, uint32_t seed) {
  std::mt19937 gen = testing::rng(seed);
  Conv2dOp op = small_conv(in_c, out_c, DType::kS8, seed);
  op.kernel_h = op.kernel_w = 3;
  op.pad_h = op.pad_w = 1;
  op.weights = random_weights(gen, Shape{out_c, in_c, 3, 3}, DType::kS8);
  op.activation = activation;
  return op;
}

// conv -> max pool -> static quantize: the convolution writes the bytes and
// the pool runs on them, only after a ReLU (a NaN would not commute).
TEST(FoldStaticQuantize, MovesAMaxPoolAfterAReluBehindTheQuantize) {
  const Pool2dOp max_pool{PoolKind::kMax, 3, 3, 2, 2, 1, 1};
  ModelBuilder b;
  const ValueId x = b.input(Shape{4, 9, 9}, DType::kU8);
  // Moved: ReLU conv -> max pool -> static u4 quantize.
  const ValueId a = b.conv2d(x, small_3x3_conv(4, 4, Activation::kRelu, 41), "stem");
  const ValueId ap = b.pool2d(a, max_pool, "pool");
  const ValueId aq = b.quantize_static(ap, 0.2f, 4, false, "q_pool");
  // Kept: no activation.
  const ValueId c = b.conv2d(aq, small_3x3_conv(4, 4, Activation::kNone, 42), "linear");
  const ValueId cq =
      b.quantize_static(b.pool2d(c, max_pool, "pool_linear"), 0.1f, 8, false, "q_linear");
  // Kept: an average pool.
  const ValueId d = b.conv2d(cq, small_3x3_conv(4, 4, Activation::kRelu, 43), "averaged");
  const ValueId dq =
      b.quantize_static(b.pool2d(d, Pool2dOp{PoolKind::kAverage, 2, 2, 1, 1, 0, 0}, "pool_average"),
                        0.1f, 8, false, "q_average");
  // Kept: the pool's output is also a graph output.
  const ValueId e = b.conv2d(dq, small_3x3_conv(4, 4, Activation::kRelu6, 44), "pool_output");
  const ValueId ep = b.pool2d(e, max_pool, "pool_shared");
  const ValueId eq = b.quantize_static(ep, 0.1f, 8, true, "q_shared");
  b.mark_output(ep);
  b.mark_output(eq);
  const Graph before = b.graph();
  const Graph after = folded(before, 1);
  EXPECT_EQ(testing::find_node(after, "q_pool"), nullptr);
  const OutputQuantization want{0.2f, 4, false};
  EXPECT_EQ(fused_of(*testing::find_node(after, "stem")), want);
  // The stem writes u8 of its own shape; the pool writes the quantize's value.
  const Node& stem = *testing::find_node(after, "stem");
  const Node& pool = *testing::find_node(after, "pool");
  EXPECT_EQ(after.value(stem.output).dtype, DType::kU8);
  EXPECT_EQ(after.value(stem.output).shape, before.value(a).shape);
  ASSERT_EQ(pool.inputs.size(), 1u);
  EXPECT_EQ(pool.inputs[0], stem.output);
  EXPECT_EQ(after.value(pool.output).name, before.value(aq).name);
  EXPECT_EQ(after.value(pool.output).dtype, DType::kU8);
  for (const char* kept : {"linear", "averaged", "pool_output"}) {
    EXPECT_FALSE(fused_of(*testing::find_node(after, kept)).enabled()) << kept;
  }
  for (const char* kept : {"q_linear", "q_average", "q_shared"}) {
    EXPECT_NE(testing::find_node(after, kept), nullptr) << kept;
  }
  // The chip's model stores the pooled bytes at the quantizer's 4 bits.
  const DeviceConfig config;
  EXPECT_EQ(
      device::describe_node(after, pool, config).output_bytes,
      device::describe_node(before, *testing::find_node(before, "q_pool"), config).output_bytes);

  // Every backend computes the same bytes with and without the move.
  std::mt19937 gen = testing::rng(45);
  const Tensor input = testing::random_u8(gen, Shape{3, 4, 9, 9});
  auto model = std::make_shared<const Model>(b.build());
  for (const char* backend : {"reference", "cpu", "device"}) {
    SessionOptions on, off;
    on.backends = off.backends = {backend, "reference"};
    off.fold_static_quantize = false;
    // This pass alone (fold_max_pool would fuse the unmoved pool).
    on.fold_max_pool = off.fold_max_pool = false;
    const Session moved(model, on), plain(model, off);
    EXPECT_EQ(plain.placements().size() - moved.placements().size(), 1u) << backend;
    const std::vector<Tensor> got = moved.run(input), want = plain.run(input);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_TRUE(testing::bit_equal(got[i], want[i])) << backend << " output " << i;
    }
  }
}

// A small residual network with calibrated (static) scales: stem conv and
// max pool, two sparse 3x3 layers, a shortcut add, a strided 1x1 and a depthwise conv.
std::shared_ptr<const Model> residual_network() {
  std::mt19937 gen = testing::rng(77);
  ModelBuilder b;
  const ValueId image = b.input(Shape{3, 12, 12});
  const ValueId xq = b.quantize_static(image, 1.0f / 127.0f, 8, true, "q_image");
  Conv2dOp stem = small_conv(3, 8, DType::kS8, 10);
  stem.kernel_h = stem.kernel_w = 3;
  stem.pad_h = stem.pad_w = 1;
  stem.weights = random_weights(gen, Shape{8, 3, 3, 3}, DType::kS8);
  const ValueId s = b.conv2d(xq, stem, "stem");
  const ValueId pooled_stem = b.pool2d(s, Pool2dOp{PoolKind::kMax, 3, 3, 2, 2, 1, 1}, "stem_pool");
  const ValueId sq = b.quantize_static(pooled_stem, 0.04f, 8, false, "q_stem");
  const ValueId c1 = b.sparse_conv3x3(sq, testing::small_sparse_layer(8, 8, 11), "block_conv1");
  const ValueId c1q = b.quantize_static(c1, 0.03f, 8, false, "q_conv1");
  SparseConv3x3Op second = testing::small_sparse_layer(8, 8, 12);
  second.activation = Activation::kNone;
  const ValueId c2 = b.sparse_conv3x3(c1q, second, "block_conv2");
  const ValueId shortcut = b.dequantize(sq, "shortcut");
  const ValueId sum = b.add(c2, shortcut, Activation::kRelu6, "block_add");
  const ValueId sumq = b.quantize_static(sum, 0.02f, 8, false, "q_add");
  Conv2dOp down = small_conv(8, 16, DType::kS4, 13);
  down.stride_h = down.stride_w = 2;
  const ValueId d = b.conv2d(sumq, down, "down");
  const ValueId dq = b.quantize_static(d, 0.03f, 4, false, "q_down");
  Conv2dOp dw = small_conv(16, 16, DType::kS8, 14);
  dw.kernel_h = dw.kernel_w = 3;
  dw.pad_h = dw.pad_w = 1;
  dw.groups = 16;
  dw.weights = random_weights(gen, Shape{16, 1, 3, 3}, DType::kS8);
  const ValueId w = b.conv2d(dq, dw, "depthwise");
  const ValueId wq = b.quantize_static(w, 0.05f, 8, true, "q_depthwise");
  const ValueId pooled = b.global_avg_pool(b.dequantize(wq, "dq_out"), "pool");
  b.mark_output(pooled);
  return std::make_shared<const Model>(b.build());
}

TEST(FoldStaticQuantize, SessionsWithAndWithoutTheFoldAgreeBitForBit) {
  const auto model = residual_network();
  std::mt19937 gen = testing::rng(88);
  const Tensor input = testing::random_f32(gen, Shape{3, 3, 12, 12}, -1.0f, 1.0f);
  for (const std::vector<std::string>& backends :
       {std::vector<std::string>{"reference"}, std::vector<std::string>{"cpu", "reference"},
        std::vector<std::string>{"device", "cpu", "reference"},
        std::vector<std::string>{"device-cycle", "cpu", "reference"}}) {
    SessionOptions on, off;
    on.backends = off.backends = backends;
    on.threads = off.threads = 2;
    off.fold_static_quantize = false;
    on.fold_max_pool = off.fold_max_pool = false;  // this pass alone
    const Session folded(model, on), plain(model, off);
    // stem, block_conv1, down and depthwise fold (block_conv2 feeds the add).
    EXPECT_EQ(plain.placements().size() - folded.placements().size(), 4u) << backends[0];
    const std::vector<std::string> names = [&] {
      std::vector<std::string> n;
      for (const Placement& p : folded.placements()) n.push_back(p.node);
      return n;
    }();
    EXPECT_NE(std::find(names.begin(), names.end(), "block_conv1"), names.end());
    EXPECT_EQ(std::find(names.begin(), names.end(), "q_conv1"), names.end());
    EXPECT_EQ(&folded.model(), model.get());  // the caller's model, unfolded
    RunStats stats;
    const Tensor a = folded.run(input, &stats).at(0);
    const Tensor b = plain.run(input).at(0);
    EXPECT_TRUE(testing::bit_equal(a, b)) << backends[0];
    EXPECT_GE(stats.steps.size(), folded.placements().size());  // transfers too
    for (const Placement& p : folded.placements()) {
      if (p.node != "block_conv1") continue;
      // The analytic device runs the fused layer; the cycle-stepped array,
      // which writes f32 only, leaves it to the CPU.
      EXPECT_EQ(p.backend, backends[0] == "device-cycle" ? "cpu" : backends[0]) << p.kernel;
    }
  }
}

// The chip's model reads a fused layer's output as its quantizer's: a u4
// output makes the next layer a4 and is stored in 4 bits.
TEST(FoldStaticQuantize, TheDeviceModelSeesTheFusedQuantizersWidth) {
  ModelBuilder b;
  const ValueId x = b.input(Shape{8, 10, 10}, DType::kU8);
  const ValueId a = b.sparse_conv3x3(x, testing::small_sparse_layer(8, 8, 21), "first");
  const ValueId aq = b.quantize_static(a, 0.2f, 4, false, "q_first");
  const ValueId c = b.sparse_conv3x3(aq, testing::small_sparse_layer(8, 8, 22), "second");
  b.mark_output(c);
  const Graph before = b.graph();
  const Graph after = fold_static_quantize(before);
  ASSERT_EQ(after.nodes.size(), 2u);
  const DeviceConfig config;
  const device::NodeWork plain = device::describe_node(before, before.nodes[2], config);
  const device::NodeWork fused_reader = device::describe_node(after, after.nodes[1], config);
  EXPECT_EQ(plain.conv.activation_bits, 4);
  EXPECT_EQ(fused_reader.conv.activation_bits, 4);
  EXPECT_EQ(fused_reader.input_bytes, plain.input_bytes);
  const device::NodeWork quantize = device::describe_node(before, before.nodes[1], config);
  EXPECT_EQ(device::describe_node(after, after.nodes[0], config).output_bytes,
            quantize.output_bytes);
}

// ---- validation -----------------------------------------------------------

void expect_refused(OpAttrs op, DType input, const std::string& needle) {
  Graph g;
  g.values.push_back({"x", Shape{4, 6, 6}, input});
  g.input = 0;
  Node node{"bad_layer", std::move(op), {0}, -1};
  Value out;
  try {
    out = infer_output(g, node);
  } catch (const Error& e) {
    FAIL() << "infer_output threw: " << e.what();
  }
  out.name = "y";
  g.values.push_back(out);
  node.output = 1;
  g.nodes.push_back(node);
  g.outputs = {1};
  try {
    validate(g);
    ADD_FAILURE() << "accepted: " << needle;
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("bad_layer"), std::string::npos) << what;
    EXPECT_NE(what.find(needle), std::string::npos) << what;
  }
}

TEST(FusedOutputValidation, RefusesWhatNoQuantizeOpCouldHold) {
  for (float scale : {std::nanf(""), -0.5f, INFINITY, 1e9f, 1e-40f}) {
    SparseConv3x3Op op = testing::small_sparse_layer(4, 4, 1);
    op.output_quantization.scale = scale;
    expect_refused(op, DType::kU8, "output_quantization.scale");
  }
  SparseConv3x3Op bits = testing::small_sparse_layer(4, 4, 1);
  bits.output_quantization = {0.1f, 6, false};
  expect_refused(bits, DType::kU8, "bits");
  Conv2dOp signed4 = small_conv(4, 4, DType::kS8, 2);
  signed4.output_quantization = {0.1f, 4, true};
  expect_refused(signed4, DType::kU8, "8-bit");
  Conv2dOp float_mode = small_conv(4, 4, DType::kF32, 3);
  float_mode.output_quantization.scale = 0.1f;
  expect_refused(float_mode, DType::kF32, "quantized-mode");
}

// ---- the model file -------------------------------------------------------

TEST(FusedOutputModelFile, AFoldedGraphRoundTrips) {
  const auto model = residual_network();
  const Graph folded = fold_static_quantize(model->graph());
  const Model saved(folded, model->metadata());
  const auto loaded = Model::from_bytes(saved.to_bytes());
  int fused = 0;
  ASSERT_EQ(loaded->graph().nodes.size(), folded.nodes.size());
  for (size_t i = 0; i < folded.nodes.size(); ++i) {
    const Node& want = folded.nodes[i];
    const Node& got = loaded->graph().nodes[i];
    EXPECT_EQ(got.name, want.name);
    if (std::holds_alternative<Conv2dOp>(want.op) ||
        std::holds_alternative<SparseConv3x3Op>(want.op)) {
      EXPECT_EQ(fused_of(got), fused_of(want)) << want.name;
      fused += fused_of(want).enabled() ? 1 : 0;
    }
    EXPECT_EQ(loaded->graph().value(got.output).dtype, folded.value(want.output).dtype);
  }
  EXPECT_EQ(fused, 4);
  // The loaded model runs as the folded graph did.
  std::mt19937 gen = testing::rng(5);
  const Tensor input = testing::random_f32(gen, Shape{2, 3, 12, 12}, -1.0f, 1.0f);
  SessionOptions options;
  options.backends = {"reference"};
  EXPECT_TRUE(testing::bit_equal(Session(loaded, options).run(input).at(0),
                                 Session(model, options).run(input).at(0)));
}

// A file holding a fused attribute no quantize op could hold is refused,
// naming the node.
TEST(FusedOutputModelFile, BadValuesAreRefusedNamingTheNode) {
  struct Bad {
    OutputQuantization q;
    const char* needle;
  };
  const Bad cases[] = {{{-0.1f, 8, false}, "output_quantization.scale"},
                       {{std::nanf(""), 8, false}, "output_quantization.scale"},
                       {{1e30f, 8, false}, "output_quantization.scale"},
                       {{0.1f, 3, false}, "bits"},
                       {{0.1f, 4, true}, "8-bit"}};
  for (const Bad& bad : cases) {
    const auto model = residual_network();
    Graph graph = fold_static_quantize(model->graph());
    for (Node& node : graph.nodes) {
      if (auto* sparse = std::get_if<SparseConv3x3Op>(&node.op)) {
        if (!sparse->output_quantization.enabled()) continue;
        sparse->output_quantization = bad.q;
        // The declared value as the attribute says, so the attribute is what is refused.
        graph.values[static_cast<size_t>(node.output)].dtype = fused_dtype(bad.q);
      }
    }
    const std::vector<uint8_t> bytes = model_format::write_model(graph, model->metadata());
    try {
      Model::from_bytes(bytes);
      ADD_FAILURE() << "loaded a file with " << bad.needle << " bad";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.code(), ErrorCode::kInvalidModel) << what;
      EXPECT_NE(what.find("block_conv1"), std::string::npos) << what;
      EXPECT_NE(what.find(bad.needle), std::string::npos) << what;
    }
  }
}

}  // namespace
}  // namespace sparq
