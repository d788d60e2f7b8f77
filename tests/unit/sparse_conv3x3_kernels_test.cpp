// The sparse 3x3 convolution kernels (kernels/sparse_conv3x3) and their CPU
// node: every path this machine can run, forced per ISA with ScopedIsa, is
// checked bit for bit against a brute-force loop over the tap bytes and, for
// whole batches with per-sample scales, against the reference backend.
// Paths the CPU lacks are reported as skipped.

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "kernels/isa/isa.hpp"
#include "kernels/isa/isa_override.hpp"
#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"
#include "runtime/backends/cpu/cpu_nodes.hpp"
#include "runtime/backends/cpu/sparse_conv3x3_workers.hpp"
#include "sparq/sparq.hpp"
#include "tests/support/larger_arena.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

using kernels::Isa;
using kernels::ScopedIsa;
using kernels::Sparse3x3Path;
using kernels::Sparse3x3Problem;
using kernels::SparseConv3x3Kernel;

struct Case {
  Sparse3x3Problem problem;
  PatternSharing sharing;
  Activation activation = Activation::kNone;
  int input_max = 255;  // 15: the chip's u4 activations
  std::vector<uint8_t> taps;
  std::vector<float> weight_scales, bias;
  std::vector<uint8_t> input;  // u8, or s8 bytes when problem.signed_input
  float act_scale = 0.02f;

  std::string describe() const {
    const Sparse3x3Problem& p = problem;
    return "I=" + std::to_string(p.in_channels) + " O=" + std::to_string(p.out_channels) +
           " H=" + std::to_string(p.height) + " W=" + std::to_string(p.width) +
           " s=" + std::to_string(p.stride) + " k=" + std::to_string(p.density) +
           " sharing=" + std::to_string(sharing.out_group) + "x" +
           std::to_string(sharing.in_group) + (p.signed_input ? " s8" : " u8") +
           " max=" + std::to_string(input_max) + " act=" + to_string(activation);
  }
};

// A random problem; `seed` picks everything, `density` is forced so every k is
// covered. Sizes are small and odd on purpose (channel counts off the vector
// widths, planes narrower than a vector, single rows).
Case random_case(uint32_t seed, int density, bool allow_signed) {
  std::mt19937 gen = testing::rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(gen); };
  Case c;
  Sparse3x3Problem& p = c.problem;
  p.in_channels = pick(1, 13);
  p.out_channels = pick(1, 11);
  p.height = pick(1, 17);
  p.width = pick(1, 23);
  p.stride = pick(1, 2);
  p.density = density;
  p.signed_input = allow_signed && pick(0, 3) == 0;
  const PatternSharing sharings[] = {{1, 1}, {1, 1}, {1, 4}, {4, 4}, {16, 4}, {2, 1}};
  c.sharing = sharings[pick(0, 5)];
  c.activation = static_cast<Activation>(pick(0, 2));
  c.input_max = pick(0, 2) == 0 ? 15 : 255;
  c.taps = testing::random_taps(gen, p.out_channels, p.in_channels, density, c.sharing);
  c.weight_scales = testing::random_floats(gen, static_cast<size_t>(p.out_channels), 0.001f, 0.05f);
  c.bias = testing::random_floats(gen, static_cast<size_t>(p.out_channels), -2.0f, 2.0f);
  c.input.resize(static_cast<size_t>(p.in_channels) * p.height * p.width);
  for (uint8_t& v : c.input) {
    v = p.signed_input ? static_cast<uint8_t>(static_cast<int8_t>(pick(-128, 127)))
                       : static_cast<uint8_t>(pick(0, c.input_max));
  }
  c.act_scale = std::uniform_real_distribution<float>(0.001f, 0.1f)(gen);
  return c;
}

// A random case on a fixed shape {in, out, height, width, stride}; `sharing`
// replaces random_case's pattern sharing when given.
Case shaped_case(uint32_t seed, const int (&shape)[5], int density,
                 const PatternSharing* sharing = nullptr) {
  Case c = random_case(seed, density, /*allow_signed=*/false);
  Sparse3x3Problem& p = c.problem;
  p.in_channels = shape[0];
  p.out_channels = shape[1];
  p.height = shape[2];
  p.width = shape[3];
  p.stride = shape[4];
  std::mt19937 gen = testing::rng(seed + 1);
  if (sharing != nullptr) c.sharing = *sharing;
  c.taps = testing::random_taps(gen, p.out_channels, p.in_channels, density, c.sharing);
  c.weight_scales = testing::random_floats(gen, static_cast<size_t>(p.out_channels), 0.001f, 0.05f);
  c.bias = testing::random_floats(gen, static_cast<size_t>(p.out_channels), -2.0f, 2.0f);
  c.input.resize(static_cast<size_t>(p.in_channels) * p.height * p.width);
  for (uint8_t& v : c.input) v = static_cast<uint8_t>(gen() % 256);
  return c;
}

// The largest magnitudes over a long sum: 1031 input channels, k = 9,
// inputs 255, output 0 all -8, output 1 all 7, output 2 alternating signs.
Case extreme_case() {
  Case c;
  c.problem = {
      .in_channels = 1031, .out_channels = 3, .height = 3, .width = 5, .stride = 1, .density = 9};
  c.taps.resize(static_cast<size_t>(3) * 1031 * 9);
  for (size_t e = 0; e < c.taps.size(); ++e) {
    const size_t o = e / (1031 * 9);
    const int value = o == 0 ? -8 : (o == 1 ? 7 : ((e / 9) % 2 == 0 ? 7 : -8));
    c.taps[e] = make_tap(static_cast<int>(e % 9), value);
  }
  c.weight_scales = {1.0f, 0.5f, 0.25f};
  c.bias = {0.0f, 1.0f, -1.0f};
  c.input.assign(static_cast<size_t>(1031) * 15, 255);
  c.act_scale = 1.0f;
  return c;
}

float activate(float y, Activation a) {
  if (a == Activation::kNone) return y;
  const float r = y > 0.0f ? y : 0.0f;
  return a == Activation::kRelu6 ? (r < 6.0f ? r : 6.0f) : r;
}

// The definition: every kept tap, every output pixel, int32 sums.
std::vector<float> brute_force(const Case& c) {
  const Sparse3x3Problem& p = c.problem;
  const int oh = p.out_height(), ow = p.out_width(), k = p.density;
  std::vector<float> out(static_cast<size_t>(p.out_channels) * oh * ow);
  for (int o = 0; o < p.out_channels; ++o) {
    for (int y = 0; y < oh; ++y) {
      for (int x = 0; x < ow; ++x) {
        int32_t acc = 0;
        for (int i = 0; i < p.in_channels; ++i) {
          for (int t = 0; t < k; ++t) {
            const uint8_t tap = c.taps[(static_cast<size_t>(o) * p.in_channels + i) * k + t];
            const int iy = y * p.stride + tap_position(tap) / 3 - 1;
            const int ix = x * p.stride + tap_position(tap) % 3 - 1;
            if (iy < 0 || ix < 0 || iy >= p.height || ix >= p.width) continue;
            const uint8_t byte = c.input[(static_cast<size_t>(i) * p.height + iy) * p.width + ix];
            const int32_t value = p.signed_input ? int32_t{static_cast<int8_t>(byte)} : byte;
            acc += value * tap_value(tap);
          }
        }
        out[(static_cast<size_t>(o) * oh + y) * ow + x] = activate(
            dequantize_accumulator(acc, c.act_scale, c.weight_scales[static_cast<size_t>(o)],
                                   c.bias[static_cast<size_t>(o)]),
            c.activation);
      }
    }
  }
  return out;
}

struct AlignedScratch {
  struct Free {
    void operator()(void* p) const { ::operator delete (p, std::align_val_t{64}); }
  };
  std::unique_ptr<void, Free> data;
  explicit AlignedScratch(size_t bytes)
      : data(::operator new (std::max<size_t>(bytes, 1), std::align_val_t{64})) {}
};

std::vector<float> run_kernel(const SparseConv3x3Kernel& kernel, const Case& c, int threads) {
  const Sparse3x3Problem& p = c.problem;
  // NaN-filled so a pixel the kernel forgets to write cannot pass.
  std::vector<float> out(static_cast<size_t>(p.out_channels) * p.out_height() * p.out_width(),
                         std::numeric_limits<float>::quiet_NaN());
  // Scratch that starts as non-zero garbage (NaN bits for the fp32 lanes), as
  // a session's arena may hold: no stale byte may reach an output.
  const size_t scratch_bytes = cpu::sparse_conv3x3_sample_scratch(kernel, threads);
  AlignedScratch scratch(scratch_bytes);
  std::memset(scratch.data.get(), 0xFF, scratch_bytes);
  kernels::Sparse3x3Sample sample;
  sample.input = c.input.data();
  sample.act_scale = c.act_scale;
  sample.output = out.data();
  testing::run_in_larger_arena(threads, [&] {
    cpu::run_sparse_conv3x3_sample(kernel, sample, scratch.data.get(), threads);
  });
  return out;
}

::testing::AssertionResult same_bits(const std::vector<float>& got,
                                     const std::vector<float>& want) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << "sizes differ";
  for (size_t e = 0; e < got.size(); ++e) {
    if (std::memcmp(&got[e], &want[e], sizeof(float)) != 0) {
      return ::testing::AssertionFailure()
             << "element " << e << ": " << got[e] << " vs " << want[e];
    }
  }
  return ::testing::AssertionSuccess();
}

class SparseKernelIsaTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!kernels::isa_supported(GetParam())) {
      GTEST_SKIP() << "this CPU lacks " << kernels::isa_name(GetParam())
                   << " (hardware: " << kernels::isa_name(kernels::hardware_isa())
                   << "); path not tested here";
    }
  }
};

// Every path of exactly this ISA, on many random problems and every density.
TEST_P(SparseKernelIsaTest, EveryPathMatchesBruteForce) {
  const Isa isa = GetParam();
  ScopedIsa forced(isa);
  ASSERT_EQ(kernels::active_isa(), isa);
  int paths_run = 0;
  for (uint32_t seed = 0; seed < 45; ++seed) {
    const Case c = random_case(seed, static_cast<int>(seed % 9) + 1, /*allow_signed=*/true);
    const std::vector<float> want = brute_force(c);
    for (const Sparse3x3Path& path : SparseConv3x3Kernel::candidate_paths(c.problem, isa)) {
      if (path.isa != isa) continue;
      const SparseConv3x3Kernel kernel = SparseConv3x3Kernel::create_on_path(
          c.problem, c.taps, c.weight_scales, c.bias, c.activation, path);
      EXPECT_TRUE(same_bits(run_kernel(kernel, c, 1), want))
          << kernel.name() << " seed " << seed << ": " << c.describe();
      ++paths_run;
    }
  }
  EXPECT_GT(paths_run, 0) << "no path of " << kernels::isa_name(isa) << " was exercised";
}

// Layers wider than one register block of output channels (16 to 64 on the
// output-channel paths) and rows split into several tiles: every path of
// this ISA, several blocks per task and across tasks, 1, 2 and 3 threads
// (on 2 threads layers of several output-block groups split them
// group-major; layers of one group, and every layer on 3 threads, split row
// bands where they have the tiles).
TEST_P(SparseKernelIsaTest, WideLayersMatchBruteForce) {
  const Isa isa = GetParam();
  ScopedIsa forced(isa);
  const int shapes[][5] = {// in, out, height, width, stride
                           {5, 17, 3, 31, 1},
                           {33, 40, 7, 7, 1},
                           {12, 70, 9, 20, 2},
                           {36, 96, 4, 15, 1},
                           // Enough tiles for the row bands of 2 and 3 threads.
                           {6, 20, 40, 37, 1},
                           {10, 24, 47, 45, 2},
                           // Rows longer than one 64-pixel staging step, with a tail.
                           {5, 9, 5, 150, 1},
                           {7, 10, 6, 141, 2},
                           // Stride-2 rows of 33-38 pixels: more than one 64-byte load.
                           {6, 12, 5, 75, 2},
                           // Shared staging copies runs of lanes of at most
                           // 16 KiB: lanes of about 6 KiB, shares of 5 quad
                           // lanes (runs of 2, 2, 1), and lanes over 16 KiB.
                           {40, 32, 34, 34, 1},
                           {8, 32, 66, 66, 1}};
  uint32_t seed = 400;
  for (const auto& shape : shapes) {
    for (int density : {9, 4, 1}) {
      const Case c = shaped_case(seed++, shape, density);
      const Sparse3x3Problem& p = c.problem;
      const std::vector<float> want = brute_force(c);
      for (const Sparse3x3Path& path : SparseConv3x3Kernel::candidate_paths(p, isa)) {
        if (path.isa != isa) continue;
        const SparseConv3x3Kernel kernel = SparseConv3x3Kernel::create_on_path(
            p, c.taps, c.weight_scales, c.bias, c.activation, path);
        for (int threads : {1, 2, 3}) {
          EXPECT_TRUE(same_bits(run_kernel(kernel, c, threads), want))
              << kernel.name() << " threads " << threads << ": " << c.describe();
        }
      }
    }
  }
}

// The planner's choice for this ISA, at 1, 2 and 3 threads: identical bits.
TEST_P(SparseKernelIsaTest, ChosenPathIsExactForAnyThreadCount) {
  const Isa isa = GetParam();
  ScopedIsa forced(isa);
  for (uint32_t seed = 100; seed < 118; ++seed) {
    const Case c = random_case(seed, static_cast<int>(seed % 9) + 1, /*allow_signed=*/true);
    const SparseConv3x3Kernel kernel = SparseConv3x3Kernel::create(
        c.problem, c.taps, c.weight_scales, c.bias, c.activation, kernels::active_isa());
    EXPECT_LE(kernel.path().isa, isa) << kernel.name();
    const std::vector<float> want = brute_force(c);
    for (int threads : {1, 2, 3}) {
      EXPECT_TRUE(same_bits(run_kernel(kernel, c, threads), want))
          << kernel.name() << " threads " << threads << " seed " << seed << ": " << c.describe();
    }
  }
}

// Large, extreme sums: fp32 paths must prove or flush their 2^24 bound, and
// every path must be exact at the largest magnitudes (-8 x 255, k = 9).
TEST_P(SparseKernelIsaTest, ExtremeValuesAndLongSumsAreExact) {
  const Isa isa = GetParam();
  ScopedIsa forced(isa);
  const Case c = extreme_case();
  const std::vector<float> want = brute_force(c);
  for (const Sparse3x3Path& path : SparseConv3x3Kernel::candidate_paths(c.problem, isa)) {
    if (path.isa != isa) continue;
    const SparseConv3x3Kernel kernel = SparseConv3x3Kernel::create_on_path(
        c.problem, c.taps, c.weight_scales, c.bias, c.activation, path);
    EXPECT_TRUE(same_bits(run_kernel(kernel, c, 2), want)) << kernel.name();
  }
}

// A layer whose entries outgrow L2 (256 -> 232 channels at k = 9, on a
// plane of a few pixels, as VGG-11's last layers) runs several samples in one
// pass, group by group (run_samples): every path of this ISA, each sample
// with its own input and scale, against brute force, from garbage scratch.
TEST_P(SparseKernelIsaTest, SamplesOfOnePassMatchBruteForce) {
  const Isa isa = GetParam();
  ScopedIsa forced(isa);
  constexpr int kSamples = 3;
  const int shapes[][5] = {{256, 232, 3, 4, 1}, {256, 232, 5, 3, 2}};
  uint32_t seed = 700;
  for (const auto& shape : shapes) {
    std::vector<Case> cases;
    for (int i = 0; i < kSamples; ++i) cases.push_back(shaped_case(seed, shape, 9));
    // One layer (the first case's taps), each sample its own input and scale.
    for (int i = 1; i < kSamples; ++i) {
      cases[i].taps = cases[0].taps;
      cases[i].weight_scales = cases[0].weight_scales;
      cases[i].bias = cases[0].bias;
      cases[i].activation = cases[0].activation;
      std::mt19937 gen = testing::rng(seed + 10 + i);
      for (uint8_t& v : cases[i].input) v = static_cast<uint8_t>(gen() % 256);
      cases[i].act_scale = 0.001f * static_cast<float>(i + 1);
    }
    ++seed;
    const Case& c = cases[0];
    std::vector<std::vector<float>> want;
    for (const Case& sample_case : cases) want.push_back(brute_force(sample_case));
    for (const Sparse3x3Path& path : SparseConv3x3Kernel::candidate_paths(c.problem, isa)) {
      if (path.isa != isa) continue;
      const SparseConv3x3Kernel kernel = SparseConv3x3Kernel::create_on_path(
          c.problem, c.taps, c.weight_scales, c.bias, c.activation, path);
      ASSERT_EQ(kernel.samples_per_pass(kSamples), kSamples)
          << kernel.name() << ": its entries fit L2, so this layer tests no pass";
      const size_t scratch_bytes = kSamples * kernel.worker_scratch_bytes();
      AlignedScratch scratch(scratch_bytes);
      std::memset(scratch.data.get(), 0xFF, scratch_bytes);
      std::vector<std::vector<float>> got(kSamples);
      std::vector<kernels::Sparse3x3Sample> samples(kSamples);
      for (int i = 0; i < kSamples; ++i) {
        got[i].assign(want[i].size(), std::numeric_limits<float>::quiet_NaN());
        samples[i].input = cases[i].input.data();
        samples[i].act_scale = cases[i].act_scale;
        samples[i].output = got[i].data();
      }
      kernel.run_samples(samples, scratch.data.get());
      for (int i = 0; i < kSamples; ++i) {
        EXPECT_TRUE(same_bits(got[i], want[i]))
            << kernel.name() << " sample " << i << ": " << cases[i].describe();
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, SparseKernelIsaTest,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kVnni,
                                           Isa::kAmx),
                         [](const ::testing::TestParamInfo<Isa>& info) {
                           return std::string(kernels::isa_name(info.param));
                         });

// The CPU node against the reference backend: batches with per-sample scales.
struct NodeFixture {
  Graph graph;
  Node node;
};

NodeFixture make_node_graph(const Case& c) {
  ModelBuilder builder;
  const Sparse3x3Problem& p = c.problem;
  const ValueId x =
      builder.input({p.in_channels, p.height, p.width}, p.signed_input ? DType::kS8 : DType::kU8);
  SparseConv3x3Op op;
  op.stride = p.stride;
  op.density = p.density;
  op.out_channels = p.out_channels;
  op.in_channels = p.in_channels;
  op.sharing = c.sharing;
  op.activation = c.activation;
  op.taps = c.taps;
  op.weight_scales = c.weight_scales;
  op.bias = c.bias;
  const ValueId y = builder.sparse_conv3x3(x, op, "sparse");
  builder.mark_output(y);
  validate(builder.graph());
  return {builder.graph(), builder.graph().nodes.back()};
}

// With `ranges`, the output's view asks the node for each sample's range.
Tensor run_node(const CompiledNode& node, const Tensor& input, const Shape& out_shape, int threads,
                SampleRange* ranges = nullptr) {
  Tensor output(out_shape, DType::kF32);
  const size_t scratch_bytes = node.scratch_bytes(input.shape()[0], threads);
  AlignedScratch scratch(scratch_bytes);
  std::memset(scratch.data.get(), 0xFF, scratch_bytes);
  const ConstTensorView in = input.view();
  ExecContext ctx;
  ctx.threads = threads;
  ctx.scratch = scratch.data.get();
  TensorView out = output.view();
  out.ranges = ranges;
  testing::run_in_larger_arena(threads, [&] { node.run({&in, 1}, out, ctx); });
  return output;
}

class SparseNodeIsaTest : public SparseKernelIsaTest {};

TEST_P(SparseNodeIsaTest, BatchMatchesReferenceBackend) {
  const Isa isa = GetParam();
  ScopedIsa forced(isa);
  const auto reference = BackendRegistry::get("reference");
  for (uint32_t seed = 200; seed < 218; ++seed) {
    const Case c = random_case(seed, static_cast<int>(seed % 9) + 1, /*allow_signed=*/true);
    const NodeFixture f = make_node_graph(c);
    const auto ours = cpu::compile_sparse_conv3x3(f.graph, f.node);
    const auto theirs = reference->compile(f.graph, f.node);
    std::mt19937 gen = testing::rng(seed);
    const int batch = 1 + static_cast<int>(seed % 3);
    const Shape in_shape = f.graph.value(f.graph.input).shape.with_batch(batch);
    Tensor input(in_shape, c.problem.signed_input ? DType::kS8 : DType::kU8);
    std::uniform_int_distribution<int> value(c.problem.signed_input ? -128 : 0,
                                             c.problem.signed_input ? 127 : c.input_max);
    for (uint8_t& v : input.span<uint8_t>()) v = static_cast<uint8_t>(value(gen));
    for (float& s : input.scales()) s = std::uniform_real_distribution<float>(0.001f, 0.2f)(gen);
    const Shape out_shape = f.graph.value(f.node.output).shape.with_batch(batch);
    const Tensor want = run_node(*theirs, input, out_shape, 1);
    for (int threads : {1, 3}) {
      EXPECT_TRUE(testing::bit_equal(run_node(*ours, input, out_shape, threads), want))
          << ours->kernel_name() << " batch " << batch << " threads " << threads << " seed " << seed
          << ": " << c.describe();
    }
  }
}

// Batches of a layer whose entries outgrow L2: on one thread its samples
// run in passes that share the weights, on several each worker's share in
// passes (the odd batch leaves a short last pass), and every sample's values
// and stored range are those of the reference backend.
TEST_P(SparseNodeIsaTest, BatchInPassesMatchesReferenceBackend) {
  const Isa isa = GetParam();
  ScopedIsa forced(isa);
  const auto reference = BackendRegistry::get("reference");
  const int shape[5] = {256, 232, 2, 3, 1};
  for (const Activation activation : {Activation::kNone, Activation::kRelu}) {
    Case c = shaped_case(720, shape, 9);
    c.activation = activation;
    const NodeFixture f = make_node_graph(c);
    const auto ours = cpu::compile_sparse_conv3x3(f.graph, f.node);
    const auto theirs = reference->compile(f.graph, f.node);
    ASSERT_TRUE(ours->writes_ranges());
    std::mt19937 gen = testing::rng(721);
    constexpr int kBatch = 7;
    const Shape in_shape = f.graph.value(f.graph.input).shape.with_batch(kBatch);
    Tensor input(in_shape, DType::kU8);
    for (uint8_t& v : input.span<uint8_t>()) v = static_cast<uint8_t>(gen() % 256);
    for (float& s : input.scales()) s = std::uniform_real_distribution<float>(0.001f, 0.05f)(gen);
    const Shape out_shape = f.graph.value(f.node.output).shape.with_batch(kBatch);
    const Tensor want = run_node(*theirs, input, out_shape, 1);
    const auto sample = static_cast<size_t>(out_shape.elements() / kBatch);
    for (int threads : {1, 2, 3}) {
      std::vector<SampleRange> ranges(kBatch, SampleRange{1e30f, -1e30f});
      const Tensor got = run_node(*ours, input, out_shape, threads, ranges.data());
      const std::string what = ours->kernel_name() + " threads " + std::to_string(threads);
      EXPECT_TRUE(testing::bit_equal(got, want)) << what;
      for (int n = 0; n < kBatch; ++n) {
        // The smallest interval holding 0 and every value of the sample.
        SampleRange expected;
        for (size_t e = 0; e < sample; ++e) {
          const float v = got.span<float>()[n * sample + e];
          expected.max = std::max(expected.max, v);
          expected.min = std::min(expected.min, v);
        }
        EXPECT_EQ(ranges[n].max, expected.max) << what << " sample " << n;
        EXPECT_EQ(ranges[n].min, expected.min) << what << " sample " << n;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, SparseNodeIsaTest,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kVnni,
                                           Isa::kAmx),
                         [](const ::testing::TestParamInfo<Isa>& info) {
                           return std::string(kernels::isa_name(info.param));
                         });

// The AMX tile program on the portable model of the tile unit: the same
// entries, gathers, blocking and accumulator layout the AMX path runs, on
// every CPU (the tile instructions themselves run in the kAmx suites above,
// on AMX machines only).
class SparseKernelTileProgram : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kernels::isa_supported(Isa::kAvx512)) {
      GTEST_SKIP() << "the emulated tile program uses the AVX-512 staging and epilogue; this CPU "
                      "has "
                   << kernels::isa_name(kernels::hardware_isa());
    }
  }
  // Every register block: 16..64 output channels x 16..48 pixels.
  static std::vector<Sparse3x3Path> emulated_paths() {
    std::vector<Sparse3x3Path> paths;
    for (int channel_tiles = 1; channel_tiles <= 4; ++channel_tiles) {
      for (int pixel_vecs = 1; pixel_vecs <= 7 / (channel_tiles + 1); ++pixel_vecs) {
        Sparse3x3Path path;
        path.isa = Isa::kAmx;
        path.layout = kernels::LaneLayout::kQuad;
        path.out_block = 16 * channel_tiles;
        path.pixel_vecs = pixel_vecs;
        path.vector_pixels = 16;
        paths.push_back(path);
      }
    }
    return paths;
  }
  static void expect_every_path_exact(const Case& c, std::initializer_list<int> thread_counts) {
    const std::vector<float> want = brute_force(c);
    for (const Sparse3x3Path& path : emulated_paths()) {
      const SparseConv3x3Kernel kernel = SparseConv3x3Kernel::create_emulating_tiles(
          c.problem, c.taps, c.weight_scales, c.bias, c.activation, path);
      for (int threads : thread_counts) {
        EXPECT_TRUE(same_bits(run_kernel(kernel, c, threads), want))
            << kernel.name() << " threads " << threads << ": " << c.describe();
      }
    }
  }
};

TEST_F(SparseKernelTileProgram, EveryBlockMatchesBruteForce) {
  for (uint32_t seed = 0; seed < 36; ++seed) {
    expect_every_path_exact(random_case(seed, static_cast<int>(seed % 9) + 1, false), {1});
  }
}

// Channel counts around the 64 of one entry: whole entries load in place
// (16 lanes at one tap), the rest are gathered; shared and random patterns,
// several blocks and tiles, 1 to 3 threads.
TEST_F(SparseKernelTileProgram, WideLayersMatchBruteForce) {
  const int shapes[][5] = {// in, out, height, width, stride
                           {64, 20, 9, 11, 1},
                           {70, 33, 7, 7, 1},
                           {128, 16, 6, 9, 2},
                           {36, 96, 4, 15, 1},
                           {10, 24, 47, 45, 2}};
  const PatternSharing sharings[] = {{1, 1}, {16, 4}, {16, 64}};
  uint32_t seed = 600;
  for (const auto& shape : shapes) {
    for (int density : {9, 4, 1}) {
      const Case c = shaped_case(seed, shape, density, &sharings[seed % 3]);
      ++seed;
      expect_every_path_exact(c, {1, 2, 3});
    }
  }
}

TEST_F(SparseKernelTileProgram, ExtremeValuesAndLongSumsAreExact) {
  expect_every_path_exact(extreme_case(), {2});
}

// Only the kept (lane, tap) pairs are multiplied: with 16 output x 64 input
// channels sharing one position, a block has 16 K-rows (one entry), not 144.
TEST_F(SparseKernelTileProgram, SharedPatternsKeepOnlyTheirTaps) {
  const PatternSharing sharing{16, 64};
  const int shape[5] = {64, 32, 9, 11, 1};
  for (int density = 1; density <= 9; ++density) {
    const Case c = shaped_case(700 + static_cast<uint32_t>(density), shape, density, &sharing);
    const Sparse3x3Path path = emulated_paths().front();  // 16 output channels per block
    const SparseConv3x3Kernel kernel = SparseConv3x3Kernel::create_emulating_tiles(
        c.problem, c.taps, c.weight_scales, c.bias, c.activation, path);
    // Two blocks of 16 output channels, each with 16 lanes x `density` taps.
    EXPECT_EQ(kernel.entry_count(), 2 * 16 * density) << kernel.name();
    EXPECT_TRUE(same_bits(run_kernel(kernel, c, 1), brute_force(c))) << kernel.name();
  }
}

TEST(SparseKernelTileProgramPlan, EmulationIsOnlyForTheTileProgram) {
  const Case c = random_case(13, 3, /*allow_signed=*/false);
  Sparse3x3Path path;
  path.isa = Isa::kVnni;
  EXPECT_THROW(SparseConv3x3Kernel::create_emulating_tiles(c.problem, c.taps, c.weight_scales,
                                                           c.bias, c.activation, path),
               Error);
}

// The planner's kernel for a k = 9 layer of random taps, stride 1, unit
// scales and zero bias (the plan depends on the shape, not the values).
SparseConv3x3Kernel dense_kernel(uint32_t seed, int in_channels, int out_channels, int size) {
  Case c = random_case(seed, 9, /*allow_signed=*/false);
  c.problem.in_channels = in_channels;
  c.problem.out_channels = out_channels;
  c.problem.height = c.problem.width = size;
  c.problem.stride = 1;
  std::mt19937 gen = testing::rng(seed + 1);
  c.taps = testing::random_taps(gen, out_channels, in_channels, 9);
  c.weight_scales.assign(static_cast<size_t>(out_channels), 0.01f);
  c.bias.assign(static_cast<size_t>(out_channels), 0.0f);
  return SparseConv3x3Kernel::create(c.problem, c.taps, c.weight_scales, c.bias, Activation::kNone,
                                     kernels::active_isa());
}

TEST(SparseKernelPlan, KernelNameSaysDensityStrideAndIsa) {
  const Case c = random_case(7, 3, /*allow_signed=*/false);
  const SparseConv3x3Kernel kernel = SparseConv3x3Kernel::create(
      c.problem, c.taps, c.weight_scales, c.bias, c.activation, kernels::active_isa());
  const std::string name = kernel.name();
  EXPECT_EQ(name.rfind("sparse3x3_k3_s" + std::to_string(c.problem.stride) + "_", 0), 0u) << name;
  EXPECT_NE(name.find(std::string("__") + kernels::isa_name(kernel.path().isa)), std::string::npos)
      << name;
}

// A pruned layer never plans more work than the same layer dense.
TEST(SparseKernelPlan, PrunedLayerCostsNoMoreThanDense) {
  for (uint32_t seed = 0; seed < 9; ++seed) {
    Case dense = random_case(300 + seed, 9, /*allow_signed=*/false);
    dense.problem.in_channels = 32;
    dense.problem.out_channels = 32;
    dense.problem.height = dense.problem.width = 14;
    std::mt19937 gen = testing::rng(seed);
    dense.taps = testing::random_taps(gen, 32, 32, 9);
    dense.weight_scales.assign(32, 0.01f);
    dense.bias.assign(32, 0.0f);
    Case pruned = dense;
    pruned.problem.density = static_cast<int>(seed) + 1;
    pruned.taps = testing::random_taps(gen, 32, 32, pruned.problem.density);
    const auto a =
        SparseConv3x3Kernel::create(pruned.problem, pruned.taps, pruned.weight_scales, pruned.bias,
                                    Activation::kNone, kernels::active_isa());
    const auto b =
        SparseConv3x3Kernel::create(dense.problem, dense.taps, dense.weight_scales, dense.bias,
                                    Activation::kNone, kernels::active_isa());
    EXPECT_LE(a.estimated_cost(), b.estimated_cost() * 1.0001)
        << a.name() << " vs dense " << b.name();
  }
}

// A layer of a few microseconds stays on one thread; a ResNet-18 layer uses
// every thread it is given.
TEST(SparseKernelPlan, SmallLayersUseOneThread) {
  auto layer = [](int channels, int size) { return dense_kernel(20, channels, channels, size); };
  const SparseConv3x3Kernel small = layer(4, 6);
  EXPECT_EQ(small.useful_threads(2), 1) << small.name();
  const SparseConv3x3Kernel large = layer(64, 56);
  EXPECT_EQ(large.useful_threads(2), 2) << large.name();
  EXPECT_EQ(large.useful_threads(1), 1);
  EXPECT_EQ(large.useful_threads(0), 1);
}

// Passes (run_samples) only where the entries outgrow L2, as many samples
// as the batch has up to kMaxPassSamples, and no more than keep their staged
// inputs within 256 KiB (on every path: fp32 lanes stage 4 bytes a channel,
// quads 1).
TEST(SparseKernelPlan, PassesOnlyWhereTheEntriesOutgrowL2) {
  auto layer = [](int in_channels, int out_channels, int size) {
    return dense_kernel(22, in_channels, out_channels, size);
  };
  constexpr size_t kPassBytes = 256 * 1024;
  // The most samples of a pass: all of a large batch that fit 256 KiB, at
  // most kMaxPassSamples.
  auto expect_fullest_pass = [&](const SparseConv3x3Kernel& kernel) {
    const int most = kernel.samples_per_pass(1000);
    EXPECT_LE(static_cast<size_t>(most) * kernel.staged_input_bytes(), kPassBytes) << kernel.name();
    if (most < kernels::kMaxPassSamples) {
      EXPECT_GT(static_cast<size_t>(most + 1) * kernel.staged_input_bytes(), kPassBytes)
          << kernel.name();
    }
    return most;
  };
  // 64 x 64 x 9 taps: entries of a few hundred KiB at most, no pass.
  const SparseConv3x3Kernel cached = layer(64, 64, 8);
  EXPECT_EQ(cached.samples_per_pass(16), 1) << cached.name();
  // 512 x 512 on a 2x2 plane: megabytes of entries, small staged inputs.
  const SparseConv3x3Kernel wide = layer(512, 512, 2);
  EXPECT_EQ(wide.samples_per_pass(1), 1) << wide.name();
  EXPECT_EQ(wide.samples_per_pass(2), 2) << wide.name();
  EXPECT_GE(expect_fullest_pass(wide), 2) << wide.name();
  // 32 -> 2048 channels on one pixel: entries above the threshold, staged
  // inputs of a few KiB: kMaxPassSamples.
  const SparseConv3x3Kernel narrow_input = layer(32, 2048, 1);
  EXPECT_EQ(expect_fullest_pass(narrow_input), kernels::kMaxPassSamples) << narrow_input.name();
  // The 2x2 layer's entries on a 28x28 plane: one staged input is more than
  // a pass holds, so samples run one at a time.
  const SparseConv3x3Kernel wide_plane = layer(512, 512, 28);
  ASSERT_GT(wide_plane.staged_input_bytes(), kPassBytes) << wide_plane.name();
  EXPECT_EQ(wide_plane.samples_per_pass(16), 1) << wide_plane.name();
}

TEST(SparseKernelPlan, RejectsMalformedInput) {
  Case c = random_case(11, 2, /*allow_signed=*/false);
  auto create = [&](const Case& x) {
    return SparseConv3x3Kernel::create(x.problem, x.taps, x.weight_scales, x.bias, x.activation,
                                       kernels::active_isa());
  };
  Case bad = c;
  bad.taps.pop_back();
  EXPECT_THROW(create(bad), Error);
  bad = c;
  bad.problem.stride = 3;
  EXPECT_THROW(create(bad), Error);
  bad = c;
  bad.weight_scales.push_back(1.0f);
  EXPECT_THROW(create(bad), Error);
  bad = c;
  bad.taps[0] = make_tap(9, 1);  // position out of range
  EXPECT_THROW(create(bad), Error);
  bad = c;
  bad.problem.density = 0;
  EXPECT_THROW(create(bad), Error);
}

TEST(SparseKernelNode, RejectsChannelMismatch) {
  const Case c = random_case(12, 4, /*allow_signed=*/false);
  NodeFixture f = make_node_graph(c);
  std::get<SparseConv3x3Op>(f.node.op).in_channels += 1;
  EXPECT_THROW(cpu::compile_sparse_conv3x3(f.graph, f.node), Error);
}

TEST(Isa, ParseNamesAndOverride) {
  EXPECT_EQ(kernels::parse_isa("vnni"), Isa::kVnni);
  EXPECT_EQ(kernels::parse_isa("scalar"), Isa::kScalar);
  EXPECT_THROW(kernels::parse_isa("sse9"), Error);
  EXPECT_THROW(kernels::parse_isa(nullptr), Error);
  const Isa before = kernels::active_isa();
  {
    ScopedIsa forced(Isa::kScalar);
    EXPECT_EQ(kernels::active_isa(), Isa::kScalar);
    {
      ScopedIsa higher(Isa::kAmx);  // capped by the hardware
      EXPECT_EQ(kernels::active_isa(), kernels::hardware_isa());
    }
    EXPECT_EQ(kernels::active_isa(), Isa::kScalar);
  }
  EXPECT_EQ(kernels::active_isa(), before);
}

}  // namespace
}  // namespace sparq
