// The CPU backend against the reference backend: every operation, on every
// ISA level this machine has (forced in-process with ScopedIsa; levels the
// machine lacks are skipped visibly), over many random shapes (odd sizes,
// channel counts that are not multiples of the vector width, strides,
// padding, groups, batch > 1), with 1, 2 and 3 threads. Every comparison is
// bit for bit: quantized layers by the numerics contract, float layers
// because the CPU kernels keep the reference's summation order and rounding.

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/isa/isa.hpp"
#include "kernels/isa/isa_override.hpp"
#include "kernels/quantize/quantize.hpp"
#include "kernels/quantize/quantize_scalar_rule.hpp"
#include "sparq/sparq.hpp"
#include "tests/support/node_runner.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

using kernels::Isa;

// ---- building and running one node -----------------------------------------

using testing::OneNodeGraph;
using testing::run_on;

OneNodeGraph make_graph(const std::vector<std::pair<Shape, DType>>& inputs, OpAttrs op) {
  return testing::one_node_graph("node_under_test", inputs, std::move(op));
}

// The ISA suffix of a kernel name ("conv2d_q8_direct__vnni" -> vnni).
Isa kernel_isa(const std::string& kernel) {
  const size_t at = kernel.rfind("__");
  if (at == std::string::npos) {
    ADD_FAILURE() << "kernel name '" << kernel << "' has no __<isa> suffix";
    return Isa::kScalar;
  }
  return kernels::parse_isa(kernel.substr(at + 2).c_str());
}

// ---- random inputs ------------------------------------------------------------

Tensor random_activations(std::mt19937& gen, const Shape& shape, DType dtype) {
  if (dtype == DType::kF32) return testing::random_f32(gen, shape, -2.0f, 2.0f);
  return dtype == DType::kU8 ? testing::random_u8(gen, shape) : testing::random_s8(gen, shape);
}

int uniform(std::mt19937& gen, int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(gen);
}

Activation random_activation(std::mt19937& gen) {
  return static_cast<Activation>(uniform(gen, 0, 2));
}

// ---- the fixture: one ISA level per instantiation -------------------------------

class CpuOps : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!kernels::isa_supported(GetParam())) {
      GTEST_SKIP() << "this CPU lacks the " << kernels::isa_name(GetParam())
                   << " ISA level; its kernels are not tested here";
    }
    isa_.emplace(GetParam());
    cpu_ = BackendRegistry::get("cpu");
    reference_ = BackendRegistry::get("reference");
  }
  void TearDown() override { isa_.reset(); }

  // Runs `g` on both backends with 1, 2 and 3 threads and expects the same
  // bits each time; the CPU kernel must not be above the forced ISA.
  void expect_matches(const OneNodeGraph& g, const std::vector<const Tensor*>& in,
                      const std::string& what) {
    const Tensor expected = run_on(*reference_, g, in, 1);
    for (int threads : {1, 2, 3}) {
      std::string kernel;
      const Tensor got = run_on(*cpu_, g, in, threads, &kernel);
      EXPECT_LE(static_cast<int>(kernel_isa(kernel)), static_cast<int>(GetParam()))
          << kernel << " runs above the forced ISA";
      EXPECT_TRUE(testing::bit_equal(got, expected))
          << what << ", kernel " << kernel << ", threads " << threads;
      if (::testing::Test::HasFailure()) return;  // one report per case
    }
  }

  std::optional<kernels::ScopedIsa> isa_;
  std::shared_ptr<const Backend> cpu_, reference_;
};

// ---- convolution -----------------------------------------------------------------

struct ConvCase {
  int64_t batch, in_c, out_c, h, w, groups;
  int kh, kw, sh, sw, ph, pw;
  DType input, weights;
};

std::string describe(const ConvCase& c) {
  return "conv n" + std::to_string(c.batch) + " ic" + std::to_string(c.in_c) + " oc" +
         std::to_string(c.out_c) + " " + std::to_string(c.h) + "x" + std::to_string(c.w) + " k" +
         std::to_string(c.kh) + "x" + std::to_string(c.kw) + " s" + std::to_string(c.sh) + "x" +
         std::to_string(c.sw) + " p" + std::to_string(c.ph) + "x" + std::to_string(c.pw) + " g" +
         std::to_string(c.groups) + " " + to_string(c.input) + "x" + to_string(c.weights);
}

Tensor random_conv_weights(std::mt19937& gen, const Shape& shape, DType dtype) {
  if (dtype == DType::kF32) return testing::random_f32(gen, shape, -0.5f, 0.5f);
  Tensor w(shape, dtype);
  // s8 values -128..127; s4 bytes hold two arbitrary nibbles (-8..7).
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& b : w.span<uint8_t>()) b = static_cast<uint8_t>(byte(gen));
  return w;
}

struct ConvProblem {
  OneNodeGraph graph;
  Tensor input;
  std::string what;
};

ConvProblem make_conv_problem(const ConvCase& c, std::mt19937& gen) {
  Conv2dOp op;
  op.kernel_h = c.kh;
  op.kernel_w = c.kw;
  op.stride_h = c.sh;
  op.stride_w = c.sw;
  op.pad_h = c.ph;
  op.pad_w = c.pw;
  op.groups = static_cast<int>(c.groups);
  op.activation = random_activation(gen);
  op.weights = random_conv_weights(gen, Shape{c.out_c, c.in_c / c.groups, c.kh, c.kw}, c.weights);
  if (c.weights != DType::kF32)
    op.weight_scales = testing::random_floats(gen, c.out_c, 0.001f, 0.05f);
  op.bias = testing::random_floats(gen, static_cast<size_t>(c.out_c), -1.0f, 1.0f);
  Tensor x = random_activations(gen, Shape{c.batch, c.in_c, c.h, c.w}, c.input);
  return {make_graph({{Shape{c.in_c, c.h, c.w}, c.input}}, op), std::move(x), describe(c)};
}

// Random geometry around the paths: first layer (< 4 input channels per
// group), 1x1, depthwise, grouped and general.
ConvCase random_conv_case(std::mt19937& gen, DType input, DType weights) {
  ConvCase c{};
  c.batch = uniform(gen, 1, 3);
  const int kind = uniform(gen, 0, 4);
  c.groups = 1;
  if (kind == 0) {  // first layer
    c.in_c = uniform(gen, 1, 3);
    c.out_c = uniform(gen, 1, 20);
    c.kh = uniform(gen, 1, 7);
    c.kw = uniform(gen, 1, 7);
  } else if (kind == 1) {  // 1x1
    c.in_c = uniform(gen, 4, 40);
    c.out_c = uniform(gen, 1, 30);
    c.kh = c.kw = 1;
  } else if (kind == 2) {  // depthwise
    c.in_c = c.out_c = c.groups = uniform(gen, 1, 20);
    c.kh = c.kw = uniform(gen, 0, 1) ? 3 : 5;
  } else if (kind == 3) {  // grouped
    c.groups = uniform(gen, 2, 4);
    c.in_c = c.groups * uniform(gen, 1, 6);
    c.out_c = c.groups * uniform(gen, 1, 6);
    c.kh = uniform(gen, 1, 3);
    c.kw = uniform(gen, 1, 3);
  } else {  // general
    c.in_c = uniform(gen, 4, 37);
    c.out_c = uniform(gen, 1, 33);
    c.kh = c.kw = 3;
  }
  c.sh = uniform(gen, 1, 3);
  c.sw = uniform(gen, 1, 3);
  c.ph = uniform(gen, 0, c.kh - 1);
  c.pw = uniform(gen, 0, c.kw - 1);
  // Inputs at least as large as the kernel once padded.
  c.h = std::max<int64_t>(uniform(gen, 1, 19), c.kh - 2 * c.ph);
  c.w = std::max<int64_t>(uniform(gen, 1, 23), c.kw - 2 * c.pw);
  c.input = input;
  c.weights = weights;
  return c;
}

TEST_P(CpuOps, QuantizedConv2dMatchesReference) {
  std::mt19937 gen = testing::rng(101);
  for (int i = 0; i < 60 && !HasFailure(); ++i) {
    const DType input = i % 2 ? DType::kU8 : DType::kS8;
    const DType weights = (i / 2) % 2 ? DType::kS4 : DType::kS8;
    const ConvProblem p = make_conv_problem(random_conv_case(gen, input, weights), gen);
    expect_matches(p.graph, {&p.input}, p.what);
  }
}

// The depthwise vector paths block rows (8, then 4, 2, 1) and 1-4 vectors
// of columns, in 16-bit lanes (s4 weights: every partial sum fits) or fp32
// lanes (s8 weights, or rows no wider than one fp32 vector), and kernels
// past 8x8 take the int32 fallback: widths around every block size of both
// lane widths, heights around the row blocks, both weight widths and a 9x9
// kernel cover each of them.
TEST_P(CpuOps, QuantizedDepthwiseCoversEveryBlockShape) {
  std::mt19937 gen = testing::rng(103);
  int i = 0;
  for (const int64_t w : {1, 8, 14, 17, 28, 33, 49, 64, 70, 97, 130}) {
    for (const int k : {3, 9}) {
      for (const DType weights : {DType::kS4, DType::kS8}) {
        ConvCase c{};
        c.batch = 1;
        c.in_c = c.out_c = c.groups = 3;
        c.h = uniform(gen, k, 24);
        c.w = std::max<int64_t>(w, k);
        c.kh = c.kw = k;
        c.sh = c.sw = uniform(gen, 1, 2);
        c.ph = c.pw = k / 2;
        c.input = ++i % 2 ? DType::kU8 : DType::kS8;
        c.weights = weights;
        const ConvProblem p = make_conv_problem(c, gen);
        expect_matches(p.graph, {&p.input}, p.what);
      }
    }
  }
}

// u8 depthwise planes on VNNI read each kernel row's window as one byte quad
// per output pixel (kernel_w <= 4, stride_w 1 or 2, pad_w <= 1), shuffled out
// of a masked 64-byte load of the input row: widths around the 16-pixel
// vectors and the 4-vector column groups (both edges, the left one with its
// zeroed padding column), output rows in blocks and alone, padding rows above
// and below, every kernel width up to 4 and stride_h 1-3, the neighbours
// that fall back (kernel_w 5, stride_w 3, pad_w 2), and output heights in
// multiples of 7.
TEST_P(CpuOps, QuantizedDepthwiseWindowQuadsMatchReference) {
  std::mt19937 gen = testing::rng(105);
  int i = 0;
  for (const int64_t w : {1, 2, 15, 16, 17, 31, 33, 48, 64, 65, 97, 130}) {
    for (const int kw : {1, 2, 3, 4, 5}) {
      ++i;
      ConvCase c{};
      c.batch = uniform(gen, 1, 2);
      c.in_c = c.out_c = c.groups = uniform(gen, 1, 5);
      c.kh = uniform(gen, 1, 5);
      c.kw = kw;
      c.sh = uniform(gen, 1, 3);
      c.sw = i % 5 == 0 ? 3 : uniform(gen, 1, 2);
      c.ph = uniform(gen, 0, c.kh - 1);
      c.pw = i % 7 == 0 ? std::min(2, kw - 1) : uniform(gen, 0, std::min(1, kw - 1));
      c.h = uniform(gen, std::max(1, c.kh - 2 * c.ph), 20);
      c.w = std::max<int64_t>(w, c.kw - 2 * c.pw);
      c.input = DType::kU8;
      c.weights = i % 2 ? DType::kS8 : DType::kS4;
      const ConvProblem p = make_conv_problem(c, gen);
      expect_matches(p.graph, {&p.input}, p.what);
    }
  }
  // Planes one vector wide whose output height is a multiple of 7 walk
  // their rows in calls of 7 (MobileNet's 14x14 and 7x7 layers).
  for (const int64_t out_h : {7, 14, 21}) {
    for (const int stride : {1, 2}) {
      ConvCase c{};
      c.batch = 1;
      c.in_c = c.out_c = c.groups = 3;
      c.kh = c.kw = 3;
      c.sh = c.sw = stride;
      c.ph = c.pw = 1;
      c.h = (out_h - 1) * stride + 1;
      c.w = uniform(gen, 5, 16 * stride);
      c.input = DType::kU8;
      c.weights = out_h == 14 ? DType::kS4 : DType::kS8;
      const ConvProblem p = make_conv_problem(c, gen);
      expect_matches(p.graph, {&p.input}, p.what);
    }
  }
}

// On VNNI, u8 planes one vector wide go through the kernel in runs of
// consecutive channels of one sample, each plane with its own weights,
// scale and bias: many channels, so that 2 and 3 threads split a sample's
// channels mid-run and a worker's range spans two samples; planes 7, 14 and
// 16 wide (runs) and 17 wide (plane by plane), strides 1 and 2.
TEST_P(CpuOps, QuantizedDepthwiseRunsOfPlanesMatchReference) {
  std::mt19937 gen = testing::rng(107);
  int i = 0;
  for (const int64_t w : {7, 14, 16, 17}) {
    for (const int stride : {1, 2}) {
      ++i;
      ConvCase c{};
      c.batch = 3;
      c.in_c = c.out_c = c.groups = uniform(gen, 17, 41);
      c.kh = c.kw = 3;
      c.sh = c.sw = stride;
      c.ph = c.pw = 1;
      c.h = uniform(gen, 3, 15);
      c.w = (w - 1) * stride + 1;
      c.input = DType::kU8;
      c.weights = i % 2 ? DType::kS8 : DType::kS4;
      const ConvProblem p = make_conv_problem(c, gen);
      expect_matches(p.graph, {&p.input}, p.what);
    }
  }
}

// Pointwise (1x1, stride 1, unpadded) layers pack each channel quad's planes
// as one run and write tiles straight into the output planes: planes shorter
// and longer than one transpose, partial quads and partial blocks.
TEST_P(CpuOps, QuantizedPointwiseConvMatchesReference) {
  std::mt19937 gen = testing::rng(104);
  int i = 0;
  for (const int64_t side : {3, 4, 9, 14}) {
    for (const int64_t in_c : {4, 8, 13}) {
      ConvCase c{};
      c.batch = uniform(gen, 1, 2);
      c.in_c = in_c;
      c.out_c = uniform(gen, 1, 20);
      c.groups = 1;
      c.h = side;
      c.w = side + uniform(gen, 0, 3);
      c.kh = c.kw = 1;
      c.sh = c.sw = 1;
      c.ph = c.pw = 0;
      c.input = ++i % 2 ? DType::kU8 : DType::kS8;
      c.weights = i % 3 ? DType::kS4 : DType::kS8;
      const ConvProblem p = make_conv_problem(c, gen);
      expect_matches(p.graph, {&p.input}, p.what);
    }
  }
}

// Channel-lane tiles (VNNI: output planes of at most 16x16 pixels whose
// tiles write the planes themselves, groups of at least 32 output
// channels): every pixel count of a tile (1 to 14, as plane sizes modulo
// 14), channel counts past each vector of 16 and block of 32, 1x1 at strides
// 1 and 2, a 3x1 kernel (tall kernels write planes too), two groups, s8
// inputs (their compensation), both weight widths, batches of 1 to 3. On
// VNNI the kernel name must say the lane tiles ran.
TEST_P(CpuOps, QuantizedChannelLaneTilesMatchReference) {
  std::mt19937 gen = testing::rng(106);
  const std::pair<int64_t, int64_t> planes[] = {{1, 1},   {1, 13},  {2, 7},   {3, 5},  {4, 4},
                                                {3, 9},   {5, 6},   {7, 7},   {6, 9},  {10, 11},
                                                {14, 14}, {12, 17}, {16, 16}, {15, 13}};
  int i = 0;
  for (const auto& [h, w] : planes) {
    ++i;
    ConvCase c{};
    c.batch = uniform(gen, 1, 3);
    c.in_c = uniform(gen, 4, 70);
    c.out_c = std::array<int64_t, 6>{32, 33, 47, 64, 70, 96}[static_cast<size_t>(i % 6)];
    c.groups = 1;
    c.kh = c.kw = 1;
    c.sh = c.sw = 1;
    c.h = h;
    c.w = w;
    if (i % 5 == 0) {  // stride 2 onto the same plane
      c.sh = c.sw = 2;
      c.h = 2 * h - uniform(gen, 0, 1);
      c.w = 2 * w - uniform(gen, 0, 1);
    } else if (i % 5 == 1) {
      c.kh = 3;
      c.ph = 1;
    } else if (i % 5 == 2) {
      c.groups = 2;
      c.in_c = 2 * uniform(gen, 2, 20);
      c.out_c = 2 * uniform(gen, 32, 40);
    }
    c.input = i % 2 ? DType::kU8 : DType::kS8;
    c.weights = i % 3 ? DType::kS4 : DType::kS8;
    const ConvProblem p = make_conv_problem(c, gen);
    expect_matches(p.graph, {&p.input}, p.what);
    if (GetParam() == Isa::kVnni) {  // AMX runs matrix tiles instead
      std::string kernel;
      run_on(*cpu_, p.graph, {&p.input}, 1, &kernel);
      EXPECT_NE(kernel.find("_lanes"), std::string::npos) << p.what << ": ran " << kernel;
    }
  }
}

// Matrix tiles (AMX: every quantized dense convolution but depthwise):
// groups of 64 and 128 input channels, whose K-tiles load in place (1x1 at
// strides 1 and 2, a 3x3 whose K-rows run tap-major), and others that
// gather; the 7x7 stride-2 stem's window quads; output channels filling
// 1 to 4 channel tiles and partial ones; planes from 1 pixel to several
// tiles; two groups; s8 inputs; batches of 1 to 3. On AMX the kernel name
// must say the matrix tiles ran.
TEST_P(CpuOps, QuantizedMatrixTilesMatchReference) {
  std::mt19937 gen = testing::rng(107);
  const ConvCase cases[] = {
      {1, 64, 64, 14, 14, 1, 1, 1, 1, 1, 0, 0, DType::kU8, DType::kS4},
      {2, 128, 48, 9, 11, 1, 1, 1, 2, 2, 0, 0, DType::kS8, DType::kS8},
      {1, 64, 40, 7, 7, 1, 3, 3, 1, 1, 1, 1, DType::kU8, DType::kS4},
      {3, 3, 64, 30, 26, 1, 7, 7, 2, 2, 3, 3, DType::kS8, DType::kS8},
      {1, 3, 20, 17, 17, 1, 3, 3, 1, 1, 1, 1, DType::kU8, DType::kS4},
      {1, 36, 80, 5, 6, 1, 1, 1, 1, 1, 0, 0, DType::kU8, DType::kS8},
      {2, 256, 16, 1, 1, 1, 1, 1, 1, 1, 0, 0, DType::kS8, DType::kS4},
      {1, 128, 96, 8, 8, 2, 1, 1, 1, 1, 0, 0, DType::kU8, DType::kS4},
      {1, 20, 33, 13, 3, 1, 3, 1, 2, 1, 1, 0, DType::kS8, DType::kS8},
  };
  for (const ConvCase& c : cases) {
    const ConvProblem p = make_conv_problem(c, gen);
    expect_matches(p.graph, {&p.input}, p.what);
    if (GetParam() == Isa::kAmx) {
      std::string kernel;
      run_on(*cpu_, p.graph, {&p.input}, 1, &kernel);
      EXPECT_NE(kernel.find("_tiles"), std::string::npos) << p.what << ": ran " << kernel;
    }
  }
}

TEST_P(CpuOps, FloatConv2dMatchesReference) {
  std::mt19937 gen = testing::rng(202);
  for (int i = 0; i < 30 && !HasFailure(); ++i) {
    const ConvProblem p = make_conv_problem(random_conv_case(gen, DType::kF32, DType::kF32), gen);
    expect_matches(p.graph, {&p.input}, p.what);
  }
  // One sample large enough that the node splits it over 2 and 3 threads
  // (the random ones above run on one).
  const ConvProblem large =
      make_conv_problem({1, 16, 16, 32, 32, 1, 3, 3, 1, 1, 1, 1, DType::kF32, DType::kF32}, gen);
  expect_matches(large.graph, {&large.input}, large.what);
}

// Real layer shapes, where tiles are full and blocks many: the first layer
// of a CIFAR ResNet, 1x1 projections with stride 2, a 3x3 at 14x14, and
// stride-2 rows long enough for the packing's 16-byte steps (ResNet-18's
// 56-wide downsample, an odd 41-wide padded 3x3); then rows of more than
// one 64-pixel step of the AVX-512 packing, at stride 1 and 2, padded and
// not, ending mid-step.
TEST_P(CpuOps, QuantizedConv2dOnLayerShapes) {
  std::mt19937 gen = testing::rng(303);
  const ConvCase cases[] = {
      {1, 3, 16, 32, 32, 1, 3, 3, 1, 1, 1, 1, DType::kS8, DType::kS8},
      {2, 32, 64, 16, 16, 1, 1, 1, 2, 2, 0, 0, DType::kU8, DType::kS4},
      {1, 64, 40, 14, 14, 1, 3, 3, 1, 1, 1, 1, DType::kU8, DType::kS4},
      {1, 3, 24, 30, 30, 1, 7, 7, 2, 2, 3, 3, DType::kS8, DType::kS8},
      {1, 48, 48, 15, 15, 48, 3, 3, 2, 2, 1, 1, DType::kU8, DType::kS8},
      {1, 12, 24, 56, 56, 1, 1, 1, 2, 2, 0, 0, DType::kU8, DType::kS8},
      {2, 9, 12, 21, 41, 1, 3, 3, 2, 2, 1, 1, DType::kS8, DType::kS4},
      {1, 5, 8, 6, 35, 1, 1, 1, 2, 2, 0, 0, DType::kS8, DType::kS8},
      {1, 8, 20, 4, 150, 1, 3, 3, 1, 1, 1, 1, DType::kU8, DType::kS4},
      {1, 6, 12, 5, 261, 1, 1, 1, 2, 2, 0, 0, DType::kS8, DType::kS8},
      {2, 4, 8, 6, 133, 1, 3, 3, 2, 2, 1, 1, DType::kU8, DType::kS4},
      {1, 7, 9, 3, 129, 1, 1, 1, 1, 1, 0, 0, DType::kS8, DType::kS4},
      // Stride-2 rows of 33-36 pixels, whose bytes take more than one
      // 64-byte load (shorter rows take one).
      {1, 8, 12, 4, 72, 1, 1, 1, 2, 2, 0, 0, DType::kU8, DType::kS8},
      {1, 9, 10, 5, 67, 1, 3, 3, 2, 2, 1, 1, DType::kS8, DType::kS4},
      // One sample large enough that the node splits it over 2 and 3
      // threads (the layers above run on one): a first layer, a 1x1, a
      // general 3x3 and a depthwise layer.
      {1, 3, 32, 64, 64, 1, 3, 3, 1, 1, 1, 1, DType::kS8, DType::kS8},
      {1, 64, 64, 32, 32, 1, 1, 1, 1, 1, 0, 0, DType::kU8, DType::kS4},
      {1, 24, 32, 33, 31, 1, 3, 3, 1, 1, 1, 1, DType::kU8, DType::kS4},
      {1, 64, 64, 40, 40, 64, 3, 3, 1, 1, 1, 1, DType::kU8, DType::kS8},
      // Inputs narrow enough that a worker runs its whole blocks span after
      // span: three blocks (the last one partial) of several spans, whose
      // shares on 2 and 3 threads start and end inside a block; a batch of
      // two whose shares cross from one sample to the next.
      {1, 32, 20, 30, 30, 1, 1, 1, 1, 1, 0, 0, DType::kU8, DType::kS4},
      {2, 16, 24, 33, 29, 1, 1, 1, 1, 1, 0, 0, DType::kS8, DType::kS8},
      // First layers (whose pack replicates the input) with fewer samples
      // than threads: each worker packs what its share reads into its own
      // scratch, again where its share crosses into the next group or
      // sample (2 samples on 3 threads; 2 groups of 3 channels).
      {2, 3, 16, 48, 48, 1, 7, 7, 2, 2, 3, 3, DType::kS8, DType::kS8},
      {1, 6, 32, 48, 48, 2, 3, 3, 1, 1, 1, 1, DType::kU8, DType::kS4},
  };
  for (const ConvCase& c : cases) {
    if (HasFailure()) break;
    const ConvProblem p = make_conv_problem(c, gen);
    expect_matches(p.graph, {&p.input}, p.what);
  }
}

TEST_P(CpuOps, ExtremeQuantizedValuesStayExact) {
  // Every input at its extreme and every weight at -128 or 127: the largest
  // products the int32 path sees, with the s8 -> u8 correction at its limit.
  for (DType input : {DType::kU8, DType::kS8}) {
    Conv2dOp op;
    op.kernel_h = op.kernel_w = 3;
    op.pad_h = op.pad_w = 1;
    op.weights = Tensor(Shape{9, 20, 3, 3}, DType::kS8);
    int8_t* w = op.weights.data<int8_t>();
    for (int64_t e = 0; e < op.weights.shape().elements(); ++e) w[e] = e % 3 ? -128 : 127;
    op.weight_scales.assign(9, 0.01f);
    op.bias.assign(9, 0.5f);
    Tensor x(Shape{2, 20, 9, 11}, input);
    for (int64_t e = 0; e < x.shape().elements(); ++e) {
      if (input == DType::kU8)
        x.data<uint8_t>()[e] = e % 5 ? 255 : 0;
      else
        x.data<int8_t>()[e] = e % 5 ? -128 : 127;
    }
    x.scales()[0] = 0.02f;
    x.scales()[1] = 0.5f;
    expect_matches(make_graph({{Shape{20, 9, 11}, input}}, op), {&x},
                   std::string("extreme values, input ") + to_string(input));
  }
}

// ---- fully connected -------------------------------------------------------------

TEST_P(CpuOps, FullyConnectedMatchesReference) {
  std::mt19937 gen = testing::rng(404);
  const int64_t in_sizes[] = {1, 7, 31, 64, 65, 130, 301};
  const int64_t out_sizes[] = {1, 5, 32, 33, 70, 1000};
  int i = 0;
  for (int64_t in : in_sizes) {
    for (int64_t out : out_sizes) {
      if (HasFailure()) return;
      const DType input =
          std::array{DType::kF32, DType::kU8, DType::kS8}[static_cast<size_t>(i++ % 3)];
      FullyConnectedOp op;
      op.activation = random_activation(gen);
      if (input == DType::kF32) {
        op.weights = testing::random_f32(gen, Shape{out, in}, -0.5f, 0.5f);
      } else {
        op.weights = Tensor(Shape{out, in}, DType::kS8);
        for (int8_t& v : op.weights.span<int8_t>())
          v = static_cast<int8_t>(uniform(gen, -128, 127));
        op.weight_scales = testing::random_floats(gen, static_cast<size_t>(out), 0.001f, 0.05f);
      }
      op.bias = testing::random_floats(gen, static_cast<size_t>(out), -1.0f, 1.0f);
      const Tensor x = random_activations(gen, Shape{uniform(gen, 1, 3), in}, input);
      expect_matches(
          make_graph({{Shape{in}, input}}, op), {&x},
          "fc " + std::to_string(in) + "->" + std::to_string(out) + " " + to_string(input));
    }
  }
}

// ---- pooling ------------------------------------------------------------------

// A max pool window of random size, stride and padding (below the kernel).
Pool2dOp random_window(std::mt19937& gen) {
  Pool2dOp op;
  op.kernel_h = uniform(gen, 1, 4);
  op.kernel_w = uniform(gen, 1, 4);
  op.stride_h = uniform(gen, 1, 3);
  op.stride_w = uniform(gen, 1, 3);
  op.pad_h = uniform(gen, 0, op.kernel_h - 1);
  op.pad_w = uniform(gen, 0, op.kernel_w - 1);
  return op;
}

TEST_P(CpuOps, PoolingMatchesReference) {
  std::mt19937 gen = testing::rng(505);
  for (int i = 0; i < 40 && !HasFailure(); ++i) {
    Pool2dOp op = random_window(gen);
    op.kind = i % 2 ? PoolKind::kMax : PoolKind::kAverage;
    const int64_t c = uniform(gen, 1, 5);
    const int64_t h = std::max(uniform(gen, 1, 20), op.kernel_h);
    const int64_t w = std::max(uniform(gen, 1, 40), op.kernel_w);
    const Tensor x =
        testing::awkward_f32(gen, Shape{uniform(gen, 1, 2), c, h, w}, op.kind == PoolKind::kMax);
    expect_matches(make_graph({{Shape{c, h, w}, DType::kF32}}, op), {&x},
                   "pool " + std::to_string(i));
  }
}

// One sample large enough that the node splits its planes over 2 and 3
// threads (the shapes above are small enough to run on one).
TEST_P(CpuOps, PoolingSplitsOneSampleOverThreads) {
  std::mt19937 gen = testing::rng(525);
  const Pool2dOp max3{PoolKind::kMax, 3, 3, 2, 2, 1, 1};
  const Pool2dOp avg3{PoolKind::kAverage, 3, 3, 1, 1, 1, 1};
  const Pool2dOp max2{PoolKind::kMax, 2, 2, 2, 2, 0, 0};
  // NaN only where the pool is a max (an average's NaN bits are not the
  // contract's, as in PoolingMatchesReference).
  const Tensor f = testing::awkward_f32(gen, Shape{1, 16, 64, 62}, true);
  expect_matches(make_graph({{Shape{16, 64, 62}, DType::kF32}}, max3), {&f}, "max pool 3x3 s2");
  const Tensor a = testing::awkward_f32(gen, Shape{1, 16, 64, 62}, false);
  expect_matches(make_graph({{Shape{16, 64, 62}, DType::kF32}}, avg3), {&a}, "avg pool 3x3");
  const Tensor q = random_activations(gen, Shape{1, 64, 48, 48}, DType::kU8);
  expect_matches(make_graph({{Shape{64, 48, 48}, DType::kU8}}, max2), {&q}, "byte max pool 2x2");
}

// The 2x2 stride-2 unpadded window has its own AVX-512 kernel: odd and
// short rows (masked loads), rows longer than one 16-output step, NaN/-0.
TEST_P(CpuOps, TwoByTwoPoolingMatchesReference) {
  std::mt19937 gen = testing::rng(515);
  for (PoolKind kind : {PoolKind::kMax, PoolKind::kAverage}) {
    for (int64_t h : {2, 3, 7}) {
      for (int64_t w : {2, 3, 5, 28, 31, 32, 33, 65}) {
        Pool2dOp op;
        op.kind = kind;
        op.kernel_h = op.kernel_w = 2;
        op.stride_h = op.stride_w = 2;
        const int64_t c = 3;
        const Tensor x = testing::awkward_f32(gen, Shape{2, c, h, w}, kind == PoolKind::kMax);
        expect_matches(make_graph({{Shape{c, h, w}, DType::kF32}}, op), {&x},
                       "2x2 pool " + std::to_string(h) + "x" + std::to_string(w));
      }
    }
  }
}

// The 3x3 stride-2 max pool (padding 0 or 1) has its own AVX-512 kernel that
// reduces rows before windows and reuses a row between output rows: rows and
// columns at every edge, rows longer than one 16-output step, and NaNs of
// different payloads, infinities and -0/+0 (the first NaN in (ky, kx) order,
// else the first largest value, must win).
TEST_P(CpuOps, StridedThreeByThreeMaxPoolMatchesReference) {
  std::mt19937 gen = testing::rng(525);
  const float nans[] = {std::numeric_limits<float>::quiet_NaN(),
                        -std::numeric_limits<float>::quiet_NaN(), std::bit_cast<float>(0x7fc01234u),
                        std::bit_cast<float>(0xffa00001u)};
  for (int pad_h : {0, 1}) {
    for (int pad_w : {0, 1}) {
      for (int64_t h : {1, 2, 3, 4, 7, 8, 15}) {
        for (int64_t w : {1, 2, 3, 4, 5, 30, 31, 32, 33, 34, 35, 63, 64, 65, 66, 112}) {
          if (h + 2 * pad_h < 3 || w + 2 * pad_w < 3) continue;
          Pool2dOp op;
          op.kind = PoolKind::kMax;
          op.kernel_h = op.kernel_w = 3;
          op.stride_h = op.stride_w = 2;
          op.pad_h = pad_h;
          op.pad_w = pad_w;
          const int64_t c = 2;
          Tensor x = testing::awkward_f32(gen, Shape{2, c, h, w});
          std::uniform_int_distribution<int> pick(0, 31);
          for (float& v : x.span<float>()) {
            const int p = pick(gen);
            if (p < 4) v = nans[p];
          }
          expect_matches(make_graph({{Shape{c, h, w}, DType::kF32}}, op), {&x},
                         "3x3/2 max pool pad " + std::to_string(pad_h) + "," +
                             std::to_string(pad_w) + " " + std::to_string(h) + "x" +
                             std::to_string(w));
          if (HasFailure()) return;
        }
      }
    }
  }
}

// After a ReLU (no NaN, no -0) the 3x3 stride-2 max pool reduces with plain
// maxima: the ReLU's input has NaN, infinities and -0, its output none, and
// the two-node network must equal the reference's at every edge and width.
TEST_P(CpuOps, MaxPoolAfterReluMatchesReference) {
  std::mt19937 gen = testing::rng(545);
  // The 3x3 stride-2 windows (ResNet's stem) padded or not, and the 2x2
  // stride-2 window (VGG's).
  for (const Pool2dOp op :
       {Pool2dOp{PoolKind::kMax, 3, 3, 2, 2, 0, 0}, Pool2dOp{PoolKind::kMax, 3, 3, 2, 2, 1, 1},
        Pool2dOp{PoolKind::kMax, 2, 2, 2, 2, 0, 0}}) {
    const int pad = op.pad_h;
    for (int64_t h : {1, 2, 3, 6, 15}) {
      for (int64_t w : {1, 3, 16, 31, 32, 33, 35, 64, 67, 112}) {
        if (h + 2 * pad < op.kernel_h || w + 2 * pad < op.kernel_w) continue;
        ModelBuilder b;
        const ValueId x = b.input(Shape{3, h, w});
        const ValueId r = b.activation(x, Activation::kRelu, "relu");
        b.mark_output(b.pool2d(r, op, "pool"));
        const auto model = std::make_shared<const Model>(b.build());
        const Tensor input = testing::awkward_f32(gen, Shape{2, 3, h, w});
        SessionOptions reference_options;
        reference_options.backends = {"reference"};
        const Tensor want = Session(model, reference_options).run(input).at(0);
        for (int threads : {1, 2, 3}) {
          SessionOptions options;
          options.backends = {"cpu"};
          options.threads = threads;
          const Session cpu(model, options);
          EXPECT_EQ(cpu.placements().back().kernel.rfind("max_pool2d_after_relu", 0), 0u)
              << cpu.placements().back().kernel;
          EXPECT_TRUE(testing::bit_equal(cpu.run(input).at(0), want))
              << op.kernel_h << "x" << op.kernel_w << " pad " << pad << " " << h << "x" << w
              << " threads " << threads;
          if (HasFailure()) return;
        }
      }
    }
  }
}

// Max pooling of quantized planes (u8 and s8, every byte value): random
// windows (the generic tap-plane path), and the windows 2 or 3 columns wide
// at column stride 2 (ResNet's 3x3/2 and VGG's 2x2/2 pools, their own AVX-512
// kernel of 32 outputs per vector) at every edge, rows of one to three
// vectors, padding 0 or 1. The scales pass on.
// Windows that cover their plane's rows exactly (kernel_h == stride_h, no
// row padding, height a multiple of the stride) on planes of fewer than 64
// output rows: the CPU node pools consecutive planes as one tall plane.
// Batches of 13-channel samples (stacks that do not divide the planes), f32
// max (NaN, infinities, -0) and average, u8 and s8 max, planes of 1 to 65
// output rows (64 and more do not stack) and one extra row (no stacking).
TEST_P(CpuOps, StackedPlanesPoolingMatchesReference) {
  std::mt19937 gen = testing::rng(536);
  const Pool2dOp windows[] = {{PoolKind::kMax, 2, 2, 2, 2, 0, 0},
                              {PoolKind::kMax, 3, 3, 3, 3, 0, 1},
                              {PoolKind::kMax, 2, 3, 2, 1, 0, 1},
                              {PoolKind::kMax, 1, 1, 1, 1, 0, 0},
                              {PoolKind::kMax, 4, 2, 4, 2, 0, 0}};
  int i = 0;
  for (Pool2dOp op : windows) {
    for (const int64_t out_h : {1, 2, 7, 63, 64, 65}) {
      for (const DType dtype : {DType::kF32, DType::kU8, DType::kS8}) {
        for (const PoolKind kind : {PoolKind::kMax, PoolKind::kAverage}) {
          if (dtype != DType::kF32 && kind == PoolKind::kAverage) continue;
          op.kind = kind;
          const int64_t c = 13;
          const int64_t h = out_h * op.stride_h + (++i % 7 == 0 ? 1 : 0);
          const int64_t w = std::max<int64_t>(uniform(gen, 1, 40), op.kernel_w);
          const Shape shape{uniform(gen, 1, 3), c, h, w};
          const Tensor x = dtype == DType::kF32
                               ? testing::awkward_f32(gen, shape, kind == PoolKind::kMax)
                               : random_activations(gen, shape, dtype);
          expect_matches(make_graph({{Shape{c, h, w}, dtype}}, op), {&x},
                         "stacked pool " + std::to_string(op.kernel_h) + "x" +
                             std::to_string(op.kernel_w) + " " + std::to_string(h) + "x" +
                             std::to_string(w) + " " + to_string(dtype));
          if (HasFailure()) return;
        }
      }
    }
  }
}

TEST_P(CpuOps, BytePoolingMatchesReference) {
  std::mt19937 gen = testing::rng(535);
  for (int i = 0; i < 40 && !HasFailure(); ++i) {
    const Pool2dOp op = random_window(gen);
    const DType dtype = i % 2 ? DType::kU8 : DType::kS8;
    const int64_t c = uniform(gen, 1, 5);
    const int64_t h = std::max(uniform(gen, 1, 20), op.kernel_h);
    const int64_t w = std::max(uniform(gen, 1, 70), op.kernel_w);
    const Tensor x = random_activations(gen, Shape{uniform(gen, 1, 3), c, h, w}, dtype);
    expect_matches(make_graph({{Shape{c, h, w}, dtype}}, op), {&x},
                   "byte pool " + std::to_string(i) + " " + to_string(dtype));
  }
  const Pool2dOp column_stride2[] = {
      {PoolKind::kMax, 3, 3, 2, 2, 0, 0}, {PoolKind::kMax, 3, 3, 2, 2, 1, 1},
      {PoolKind::kMax, 2, 2, 2, 2, 0, 0}, {PoolKind::kMax, 2, 2, 2, 2, 1, 1},
      {PoolKind::kMax, 3, 2, 1, 2, 1, 0}, {PoolKind::kMax, 1, 3, 3, 2, 0, 1}};
  for (DType dtype : {DType::kU8, DType::kS8}) {
    for (const Pool2dOp& op : column_stride2) {
      for (int64_t h : {1, 2, 3, 4, 7, 33}) {
        for (int64_t w : {1, 2, 3, 5, 31, 63, 64, 65, 66, 67, 112, 129}) {
          if (h + 2 * op.pad_h < op.kernel_h || w + 2 * op.pad_w < op.kernel_w) continue;
          const Tensor x = random_activations(gen, Shape{2, 3, h, w}, dtype);
          expect_matches(make_graph({{Shape{3, h, w}, dtype}}, op), {&x},
                         "byte max pool " + std::to_string(op.kernel_h) + "x" +
                             std::to_string(op.kernel_w) + " pad " + std::to_string(op.pad_h) +
                             "," + std::to_string(op.pad_w) + " " + std::to_string(h) + "x" +
                             std::to_string(w) + " " + to_string(dtype));
          if (HasFailure()) return;
        }
      }
    }
  }
}

TEST_P(CpuOps, GlobalAvgPoolMatchesReference) {
  std::mt19937 gen = testing::rng(606);
  const std::array<std::tuple<int64_t, int64_t, int64_t>, 12> shapes = {{{1, 1, 1},
                                                                         {7, 3, 5},
                                                                         {21, 7, 7},
                                                                         {130, 2, 9},
                                                                         {16, 1, 1},
                                                                         {17, 4, 4},
                                                                         {32, 2, 1},
                                                                         {48, 1, 17},
                                                                         {35, 6, 3},
                                                                         {64, 5, 10},
                                                                         {512, 7, 7},
                                                                         {33, 14, 14}}};
  // Plane sizes of whole and partial 16-column chunks and gathered tails;
  // values with NaN, infinities and -0 too.
  for (const auto& [c, h, w] : shapes) {
    const Tensor x = testing::random_f32(gen, Shape{2, c, h, w}, -3.0f, 3.0f);
    const Tensor awkward = testing::awkward_f32(gen, Shape{2, c, h, w});
    const std::string name =
        "global avg pool " + std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
    const auto graph = make_graph({{Shape{c, h, w}, DType::kF32}}, GlobalAvgPoolOp{});
    expect_matches(graph, {&x}, name);
    expect_matches(graph, {&awkward}, name + " awkward");
  }
}

// ---- element-wise -------------------------------------------------------------

TEST_P(CpuOps, AddAndActivationMatchReference) {
  std::mt19937 gen = testing::rng(707);
  for (int64_t size : {1, 7, 16, 33, 1000, 40000}) {
    for (Activation act : {Activation::kNone, Activation::kRelu, Activation::kRelu6}) {
      const Shape shape{size};
      const Tensor a = testing::awkward_f32(gen, Shape{2, size});
      const Tensor b = testing::awkward_f32(gen, Shape{2, size});
      expect_matches(make_graph({{shape, DType::kF32}, {shape, DType::kF32}}, AddOp{act}), {&a, &b},
                     "add " + std::to_string(size));
      expect_matches(make_graph({{shape, DType::kF32}}, ActivationOp{act}), {&a},
                     "activation " + std::to_string(size));
    }
  }
}

TEST_P(CpuOps, DequantizeMatchesReference) {
  std::mt19937 gen = testing::rng(808);
  for (DType dtype : {DType::kU8, DType::kS8}) {
    for (int64_t size : {1, 15, 17, 64, 40001}) {
      const Tensor x = random_activations(gen, Shape{3, size}, dtype);
      expect_matches(make_graph({{Shape{size}, dtype}}, DequantizeOp{}), {&x},
                     std::string("dequantize ") + to_string(dtype) + " " + std::to_string(size));
    }
  }
}

// Quantize writes bytes and per-sample scales: both must match, including
// for samples that are all zero, all negative, or hold NaN and infinities.
TEST_P(CpuOps, QuantizeMatchesReference) {
  std::mt19937 gen = testing::rng(909);
  for (const QuantizeOp op : {QuantizeOp{8, false}, QuantizeOp{4, false}, QuantizeOp{8, true}}) {
    for (int64_t size : {1, 9, 16, 100, 70000}) {
      Tensor x = testing::awkward_f32(gen, Shape{4, size});
      float* v = x.data<float>();
      for (int64_t e = 0; e < size; ++e) {
        v[1 * size + e] = 0.0f;                               // all zero
        v[2 * size + e] = -1.0f - static_cast<float>(e % 7);  // all negative
      }
      expect_matches(make_graph({{Shape{size}, DType::kF32}}, op), {&x},
                     "quantize bits " + std::to_string(op.bits) +
                         (op.is_signed ? " signed " : " ") + std::to_string(size));
    }
  }
  // Values exactly half-way between two levels round to even.
  Tensor halves(Shape{1, 8}, DType::kF32);
  const float values[] = {255.0f, 0.5f, 1.5f, 2.5f, 3.5f, 254.5f, 100.5f, 7.5f};
  std::memcpy(halves.raw(), values, sizeof(values));
  expect_matches(make_graph({{Shape{8}, DType::kF32}}, QuantizeOp{}), {&halves}, "quantize halves");
}

// A u8 quantize node whose producer ends in a ReLU or ReLU6 takes the
// rounding for rectified values (QuantizeKernels::to_u8_rectified): through
// sessions (the activation, then the static quantize), the bytes of the
// reference for awkward values (NaN, infinities, negatives, which the
// activation takes to +0 or 6), exact half-way points of the scale and values
// far past qmax, at 1-3 threads.
TEST_P(CpuOps, StaticQuantizeOfARectifiedOutputMatchesReference) {
  std::mt19937 gen = testing::rng(917);
  for (const Activation activation : {Activation::kRelu, Activation::kRelu6}) {
    for (const float scale : {0.0213f, 0.02f, 1e-7f}) {
      ModelBuilder b;
      const ValueId x = b.input(Shape{300});
      b.mark_output(b.quantize_static(b.activation(x, activation), scale, 8, false, "out"));
      const auto model = std::make_shared<const Model>(b.build());
      Tensor input = testing::awkward_f32(gen, Shape{3, 300});
      float* v = input.data<float>();
      for (int e = 0; e < 300; ++e) {
        v[300 + e] = (static_cast<float>(e) + 0.5f) * scale;  // every half-way point
        v[600 + e] = static_cast<float>(e) * 1e3f;            // far past qmax
      }
      SessionOptions reference_options;
      reference_options.backends = {"reference"};
      const Tensor want = Session(model, reference_options).run(input).at(0);
      for (int threads = 1; threads <= 3; ++threads) {
        SessionOptions options;
        options.backends = {"cpu"};
        options.threads = threads;
        const Session session(model, options);
        EXPECT_NE(session.placements().back().kernel.find("quantize_u8_static"), std::string::npos);
        EXPECT_TRUE(testing::bit_equal(session.run(input).at(0), want))
            << to_string(activation) << " scale " << scale << " threads " << threads;
      }
    }
  }
}

// A static scale skips the range pass: the bytes and the per-sample scales
// (the node's scale for every sample) must still match the reference, for
// sizes that are not a multiple of any vector width and that span several
// of the CPU node's 32768-element chunks, at scales that clamp most values
// and scales that round almost everything to 0.
TEST_P(CpuOps, StaticQuantizeMatchesReference) {
  std::mt19937 gen = testing::rng(919);
  std::uniform_real_distribution<float> log_scale(-12.0f, 3.0f);
  for (const QuantizeOp format :
       {QuantizeOp{8, false}, QuantizeOp{4, false}, QuantizeOp{8, true}}) {
    for (int64_t size : {1, 7, 15, 17, 33, 100, 1000, 32768, 32769, 70001}) {
      for (int repeat = 0; repeat < (size > 1000 ? 1 : 4); ++repeat) {
        QuantizeOp op = format;
        op.scale = std::exp2(log_scale(gen));
        const int64_t batch = uniform(gen, 1, 3);
        Tensor x = repeat % 2 ? testing::awkward_f32(gen, Shape{batch, size})
                              : testing::random_f32(gen, Shape{batch, size}, -300.0f, 300.0f);
        expect_matches(make_graph({{Shape{size}, DType::kF32}}, op), {&x},
                       "static quantize bits " + std::to_string(op.bits) +
                           (op.is_signed ? " signed" : "") + " scale " + std::to_string(op.scale) +
                           " batch " + std::to_string(batch) + " size " + std::to_string(size));
      }
    }
  }
}

// The vector quantize kernels divide without the divider (a reciprocal and
// two exact-residual corrections, or on AVX-512 the product by the
// reciprocal where it provably rounds alike: quantize_impl.hpp): their bytes
// must be the scalar rule's, which divides, exactly where a quotient one ulp
// off would round to another integer: within a few ulps of every level
// k * scale and every half-way point (k + 0.5) * scale, and at 2^2 to 2^12
// ulps from them, across the AVX-512 product's margin (2^-12 of a level, 2^4
// to 2^11 ulps of the quotient); at scales across the range, the
// corrections' limits 2^-100 and 2^100 and just past them, with infinities,
// NaN and values far past the clamp. The rounding of rectified values
// (to_u8_rectified, unclamped with a saturating narrowing on AVX-512) on
// the values >= +0 of the same set: +inf and 3e38 take the conversion past
// int32.
TEST_P(CpuOps, QuantizeKernelsMatchTheDividingRuleAtEveryBoundary) {
  std::mt19937 gen = testing::rng(929);
  std::uniform_real_distribution<float> log_scale(-40.0f, 40.0f), mantissa(1.0f, 2.0f);
  std::vector<float> scales = {
      1.0f,     0x1p-8f,         0x1.fffffep-7f, 0x1p-100f, 0x1.000002p-100f, 0x1.fffffep-101f,
      0x1p100f, 0x1.000002p100f, 1.0f / 255,     3.0f};
  for (int i = 0; i < 40; ++i) scales.push_back(std::exp2(log_scale(gen)) * mantissa(gen));
  const kernels::QuantizeKernels k = kernels::quantize_kernels(GetParam());
  for (const float scale : scales) {
    std::vector<float> x;
    for (int level = -130; level <= 260; ++level) {
      for (const float centre : {level * scale, (level + 0.5f) * scale}) {
        float below = centre, above = centre;
        x.push_back(centre);
        for (int step = 0; step < 3; ++step) {
          below = std::nextafter(below, -INFINITY);
          above = std::nextafter(above, INFINITY);
          x.push_back(below);
          x.push_back(above);
        }
        if (!std::isfinite(centre) || centre == 0.0f) continue;
        for (int k = 2; k <= 12; ++k) {
          const float ulps = std::ldexp(1.0f, k);
          const float ulp = std::nextafter(std::fabs(centre), INFINITY) - std::fabs(centre);
          x.push_back(centre - ulps * ulp);
          x.push_back(centre + ulps * ulp);
        }
      }
    }
    for (const float v : {INFINITY, -INFINITY, NAN, 3e38f, -3e38f, 1e-38f, 0.0f, -0.0f}) {
      x.push_back(v);
    }
    std::vector<uint8_t> got(x.size()), expected(x.size());
    for (const int qmax : {255, 15}) {
      k.to_u8(x.data(), x.size(), scale, qmax, got.data());
      kernels::scalar_rule::to_u8(x.data(), x.size(), scale, qmax, expected.data());
      for (size_t i = 0; i < x.size(); ++i) {
        ASSERT_EQ(got[i], expected[i]) << "u8 qmax " << qmax << " scale " << scale << " x " << x[i]
                                       << " (" << std::hexfloat << x[i] << ")";
      }
    }
    // The rounding of rectified values (no NaN, none below +0), qmax 255.
    std::vector<float> rectified;
    std::copy_if(x.begin(), x.end(), std::back_inserter(rectified),
                 [](float v) { return v >= 0.0f; });
    got.resize(rectified.size());
    expected.resize(rectified.size());
    k.to_u8_rectified(rectified.data(), rectified.size(), scale, got.data());
    kernels::scalar_rule::to_u8(rectified.data(), rectified.size(), scale, 255, expected.data());
    for (size_t i = 0; i < rectified.size(); ++i) {
      ASSERT_EQ(got[i], expected[i]) << "rectified u8 scale " << scale << " x " << rectified[i]
                                     << " (" << std::hexfloat << rectified[i] << ")";
    }
    std::vector<int8_t> got_s8(x.size()), expected_s8(x.size());
    k.to_s8(x.data(), x.size(), scale, got_s8.data());
    kernels::scalar_rule::to_s8(x.data(), x.size(), scale, expected_s8.data());
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(got_s8[i], expected_s8[i])
          << "s8 scale " << scale << " x " << x[i] << " (" << std::hexfloat << x[i] << ")";
    }
  }
}

// ---- shape ops and softmax ----------------------------------------------------------

TEST_P(CpuOps, FlattenAndSoftmaxMatchReference) {
  std::mt19937 gen = testing::rng(1010);
  const Tensor q = testing::random_u8(gen, Shape{3, 5, 2, 3});
  expect_matches(make_graph({{Shape{5, 2, 3}, DType::kU8}}, FlattenOp{}), {&q}, "flatten u8");
  const Tensor f = testing::random_f32(gen, Shape{2, 4, 3, 3});
  expect_matches(make_graph({{Shape{4, 3, 3}, DType::kF32}}, FlattenOp{}), {&f}, "flatten f32");
  for (int64_t size : {1, 10, 1000}) {
    const Tensor x = testing::random_f32(gen, Shape{3, size}, -20.0f, 20.0f);
    expect_matches(make_graph({{Shape{size}, DType::kF32}}, SoftmaxOp{}), {&x},
                   "softmax " + std::to_string(size));
  }
}

// ---- errors ----------------------------------------------------------------------

TEST_P(CpuOps, WrongViewsAreRejectedWithTheNodeName) {
  std::mt19937 gen = testing::rng(1111);
  const OneNodeGraph g = make_graph({{Shape{8}, DType::kF32}}, ActivationOp{});
  auto compiled = cpu_->compile(g.graph, g.node());
  const Tensor wrong = testing::random_f32(gen, Shape{1, 9});
  Tensor out(Shape{1, 8}, DType::kF32);
  const ConstTensorView in[] = {wrong.view()};
  try {
    compiled->run(in, out.view(), ExecContext{});
    FAIL() << "a 9-element input was accepted by an 8-element node";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("node_under_test"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(EveryIsa, CpuOps,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kVnni,
                                           Isa::kAmx),
                         [](const ::testing::TestParamInfo<Isa>& info) {
                           return std::string(kernels::isa_name(info.param));
                         });

}  // namespace
}  // namespace sparq
