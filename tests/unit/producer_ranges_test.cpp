// Ranges stored by a producer for the dynamic quantize that reads its output
// (TensorView::ranges, CompiledNode::writes_ranges): the residual add's
// kernel and the quantized convolutions' epilogues find the range of what
// they write, and a session whose quantizes take those ranges instead of
// their own pass gives the reference backend's bits. The expected range is
// computed here from the written values with plain comparisons, not with the
// quantize kernels.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/eltwise/eltwise.hpp"
#include "kernels/isa/isa.hpp"
#include "kernels/isa/isa_override.hpp"
#include "sparq/sparq.hpp"
#include "tests/support/model_samples.hpp"
#include "tests/support/node_runner.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

using kernels::Isa;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The smallest interval holding 0 and every finite value.
SampleRange range_of(const std::vector<float>& values) {
  SampleRange range;
  for (const float v : values) {
    if (!std::isfinite(v)) continue;
    if (v > range.max) range.max = v;
    if (v < range.min) range.min = v;
  }
  return range;
}

// Mostly ordinary values; with `special`, some NaN, infinities, -0 and
// values far outside the rest.
std::vector<float> operand(std::mt19937& gen, size_t count, bool special) {
  std::uniform_real_distribution<float> value(-3.0f, 2.0f);
  std::uniform_int_distribution<int> pick(0, 40);
  std::vector<float> out(count);
  for (float& v : out) {
    v = value(gen);
    if (!special) continue;
    switch (pick(gen)) {
      case 0:
        v = kNaN;
        break;
      case 1:
        v = kInf;
        break;
      case 2:
        v = -kInf;
        break;
      case 3:
        v = -0.0f;
        break;
      case 4:
        v *= 1e30f;
        break;
      default:
        break;
    }
  }
  return out;
}

// Tests run once per ISA level, skipped visibly where the CPU lacks it.
class OnIsa : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!kernels::isa_supported(GetParam())) {
      GTEST_SKIP() << "this CPU lacks " << kernels::isa_name(GetParam());
    }
  }
};

class AddRanges : public OnIsa {};

TEST_P(AddRanges, KernelWidensTheRangeByExactlyTheValuesItWrites) {
  const kernels::EltwiseKernels k = kernels::eltwise_kernels(GetParam());
  std::mt19937 gen = testing::rng(31);
  const size_t counts[] = {0, 1, 7, 15, 16, 17, 31, 33, 64, 65, 127, 1000, 20001};
  for (const size_t count : counts) {
    for (const bool special : {false, true}) {
      for (const Activation act : {Activation::kNone, Activation::kRelu, Activation::kRelu6}) {
        const std::vector<float> a = operand(gen, count, special), b = operand(gen, count, special);
        std::vector<float> plain(count), ranged(count);
        k.add(a.data(), b.data(), plain.data(), count, act);
        // A range already holding values keeps them.
        SampleRange range{0.25f, -0.5f};
        k.add_ranged(a.data(), b.data(), ranged.data(), count, act, range);
        const std::string what = "count " + std::to_string(count) + " special " +
                                 std::to_string(special) + " activation " + to_string(act);
        const Shape flat{static_cast<int64_t>(count)};
        ASSERT_TRUE(
            testing::bit_equal(Tensor::from_floats(flat, plain), Tensor::from_floats(flat, ranged)))
            << what;
        std::vector<float> seen = ranged;
        seen.push_back(0.25f);
        seen.push_back(-0.5f);
        const SampleRange want = range_of(seen);
        EXPECT_EQ(range.max, want.max) << what;
        EXPECT_EQ(range.min, want.min) << what;
        EXPECT_FALSE(std::signbit(range.max)) << what;  // never -0
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryIsa, AddRanges,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
                         [](const ::testing::TestParamInfo<Isa>& info) {
                           return std::string(kernels::isa_name(info.param));
                         });

// The model's output on the CPU backend (1-3 threads, batch chunks of 0-2)
// bit for bit the reference backend's.
void expect_cpu_matches_reference(const std::shared_ptr<const Model>& model, const Tensor& input,
                                  const std::string& what) {
  SessionOptions reference;
  reference.backends = {"reference"};
  const Tensor want = Session(model, reference).run(input).at(0);
  for (int threads : {1, 2, 3}) {
    for (int64_t chunk : {0, 1, 2}) {
      SessionOptions cpu;
      cpu.backends = {"cpu"};
      cpu.threads = threads;
      cpu.batch_chunk = chunk;
      const Tensor got = Session(model, cpu).run(input).at(0);
      EXPECT_TRUE(testing::bit_equal(got, want))
          << what << ", threads " << threads << " chunk " << chunk;
    }
  }
}

// input -> add(input, input) -> dynamic quantize -> dequantize, per activation
// and quantized format: the CPU quantize takes the add's ranges.
std::shared_ptr<const Model> add_then_quantize(Activation act, int bits, bool is_signed) {
  ModelBuilder b;
  const ValueId x = b.input(Shape{5, 9, 13});
  const ValueId sum = b.add(x, x, act, "add");
  const ValueId q = b.quantize(sum, bits, is_signed, "quantize");
  b.mark_output(b.dequantize(q, "dequantize"));
  return std::make_shared<const Model>(b.build());
}

TEST(ProducerRanges, QuantizeFromTheAddsRangesMatchesTheReferenceBackend) {
  std::mt19937 gen = testing::rng(32);
  const int64_t batch = 5;
  const Shape shape{batch, 5, 9, 13};
  const auto sample = static_cast<size_t>(shape.elements() / batch);
  // Samples with ordinary values, with special values, all negative, all
  // zero, and one whose only finite values are tiny.
  std::vector<float> values;
  for (int64_t n = 0; n < batch; ++n) {
    std::vector<float> s = operand(gen, sample, n == 1);
    for (float& v : s) {
      if (n == 2) v = -std::fabs(v) - 0.1f;
      if (n == 3) v = 0.0f;
      if (n == 4) v = v > 0.0f ? 1e-20f : -kInf;
    }
    values.insert(values.end(), s.begin(), s.end());
  }
  const Tensor input = Tensor::from_floats(shape, values);
  for (const Activation act : {Activation::kNone, Activation::kRelu, Activation::kRelu6}) {
    for (const auto& [bits, is_signed] :
         {std::pair{8, false}, std::pair{8, true}, std::pair{4, false}}) {
      expect_cpu_matches_reference(add_then_quantize(act, bits, is_signed), input,
                                   std::string(to_string(act)) + " u/s" + std::to_string(bits) +
                                       (is_signed ? " signed" : ""));
    }
  }
}

// ---- convolutions ----------------------------------------------------------

struct ConvRangeCase {
  std::string what;
  Shape input;  // per sample
  DType input_dtype;
  OpAttrs op;   // Conv2dOp or SparseConv3x3Op
  bool ranged;  // writes_ranges() expected
};

Conv2dOp quantized_conv(std::mt19937& gen, int64_t in_c, int64_t out_c, int kernel, int stride,
                        int pad, int groups, Activation act) {
  Conv2dOp op;
  op.kernel_h = op.kernel_w = kernel;
  op.stride_h = op.stride_w = stride;
  op.pad_h = op.pad_w = pad;
  op.groups = groups;
  op.activation = act;
  Tensor w(Shape{out_c, in_c / groups, kernel, kernel}, DType::kS8);
  std::uniform_int_distribution<int> value(-127, 127);
  for (int8_t& v : w.span<int8_t>()) v = static_cast<int8_t>(value(gen));
  op.weights = std::move(w);
  op.weight_scales = testing::random_floats(gen, static_cast<size_t>(out_c), 0.001f, 0.05f);
  op.bias = testing::random_floats(gen, static_cast<size_t>(out_c), -2.0f, 1.0f);
  return op;
}

// Every CPU conv path that writes f32: depthwise planes (u8 and s8 inputs,
// strides 1 and 2, a run of 37 narrow u8 planes), the first-layer window quads, 1x1 pixel-vector
// tiles, 1x1 channel-lane tiles (14x14 and 7x7, 32+ channels), a 3x1 kernel, sparse 3x3 layers; and
// those that do not store ranges: a padded dense 3x3 (its tiles go through a staging buffer) and
// layers with a fused static quantize.
std::vector<ConvRangeCase> conv_range_cases(std::mt19937& gen) {
  std::vector<ConvRangeCase> cases;
  auto add = [&](std::string what, Shape input, DType dtype, OpAttrs op, bool ranged) {
    cases.push_back({std::move(what), std::move(input), dtype, std::move(op), ranged});
  };
  for (const Activation act : {Activation::kNone, Activation::kRelu}) {
    const std::string a = std::string(" ") + to_string(act);
    add("depthwise s1 u8" + a, Shape{12, 14, 14}, DType::kU8,
        quantized_conv(gen, 12, 12, 3, 1, 1, 12, act), true);
    add("depthwise runs u8" + a, Shape{37, 7, 7}, DType::kU8,
        quantized_conv(gen, 37, 37, 3, 1, 1, 37, act), true);
    add("depthwise s2 s8" + a, Shape{5, 17, 23}, DType::kS8,
        quantized_conv(gen, 5, 5, 3, 2, 1, 5, act), true);
    add("first layer 7x7 s2" + a, Shape{3, 30, 27}, DType::kS8,
        quantized_conv(gen, 3, 16, 7, 2, 3, 1, act), true);
    add("1x1 pixel tiles" + a, Shape{20, 28, 28}, DType::kU8,
        quantized_conv(gen, 20, 19, 1, 1, 0, 1, act), true);
    add("1x1 lanes 14x14" + a, Shape{24, 14, 14}, DType::kU8,
        quantized_conv(gen, 24, 40, 1, 1, 0, 1, act), true);
    add("1x1 lanes 7x7 s2" + a, Shape{16, 13, 13}, DType::kS8,
        quantized_conv(gen, 16, 64, 1, 2, 0, 1, act), true);
    Conv2dOp tall = quantized_conv(gen, 8, 33, 1, 1, 0, 1, act);
    tall.kernel_h = 3;
    tall.pad_h = 1;
    tall.weights = Tensor(Shape{33, 8, 3, 1}, DType::kS8);
    for (int8_t& v : tall.weights.span<int8_t>()) v = static_cast<int8_t>(gen() % 255 - 127);
    add("3x1" + a, Shape{8, 9, 11}, DType::kU8, std::move(tall), true);
    add("3x3 padded (staged tiles)" + a, Shape{8, 10, 10}, DType::kU8,
        quantized_conv(gen, 8, 8, 3, 1, 1, 1, act), false);
    Conv2dOp fused = quantized_conv(gen, 8, 40, 1, 1, 0, 1, act);
    fused.output_quantization = OutputQuantization{0.05f, 8, false};
    add("fused static quantize" + a, Shape{8, 7, 7}, DType::kU8, std::move(fused), false);
    // Sparse 3x3 layers: pixel-form and output-channel-form epilogues (the
    // 7x7 planes), strides 1 and 2, densities 1 to 9, shared patterns.
    add("sparse k3 14x14" + a, Shape{16, 14, 14}, DType::kU8,
        testing::random_sparse(gen, 20, 16, 3, 1, {}, act), true);
    add("sparse k1 shared 7x7" + a, Shape{64, 7, 7}, DType::kU8,
        testing::random_sparse(gen, 64, 64, 1, 1, PatternSharing{16, 4}, act), true);
    add("sparse k9 s2" + a, Shape{8, 17, 23}, DType::kS8,
        testing::random_sparse(gen, 12, 8, 9, 2, {}, act), true);
    add("sparse k5 28x28" + a, Shape{32, 28, 28}, DType::kU8,
        testing::random_sparse(gen, 48, 32, 5, 1, {}, act), true);
    SparseConv3x3Op fused_sparse = testing::random_sparse(gen, 16, 16, 2, 1, {}, act);
    fused_sparse.output_quantization = OutputQuantization{0.05f, 8, false};
    add("sparse fused static quantize" + a, Shape{16, 9, 9}, DType::kU8, std::move(fused_sparse),
        false);
  }
  return cases;
}

class ConvRanges : public OnIsa {};

// The node stores each sample's range of exactly the values it writes, and
// the values are those it writes without ranges (and the reference's). Every
// other batch gives its first sample an input scale so large that many of
// its outputs overflow to infinity, which the range must skip (after a
// ReLU the epilogues keep maxima only, and the node folds such a sample
// again from its values).
TEST_P(ConvRanges, NodeStoresTheRangeOfEachSampleItWrites) {
  const kernels::ScopedIsa forced(GetParam());
  const auto cpu = BackendRegistry::get("cpu");
  const auto reference = BackendRegistry::get("reference");
  std::mt19937 gen = testing::rng(33);
  int i = 0;
  for (ConvRangeCase& c : conv_range_cases(gen)) {
    const int64_t batch = 1 + i++ % 3;
    const testing::OneNodeGraph g =
        testing::one_node_graph("conv", {{c.input, c.input_dtype}}, c.op);
    const auto compiled = cpu->compile(g.graph, g.node());
    ASSERT_EQ(compiled->writes_ranges(), c.ranged) << c.what << ", " << compiled->kernel_name();
    if (!c.ranged) continue;
    Tensor x = c.input_dtype == DType::kU8 ? testing::random_u8(gen, c.input.with_batch(batch))
                                           : testing::random_s8(gen, c.input.with_batch(batch));
    if (i % 2 == 0) x.scales()[0] = 1e38f;
    const Tensor want = testing::run_on(*reference, g, {&x}, 1);
    const auto sample = static_cast<size_t>(want.shape().elements() / batch);
    for (int threads = 1; threads <= 3; ++threads) {
      Tensor got(want.shape(), DType::kF32);
      // Stored, not widened: what was there before must not survive.
      std::vector<SampleRange> ranges(static_cast<size_t>(batch), SampleRange{1e30f, -1e30f});
      TensorView view = got.view();
      view.ranges = ranges.data();
      testing::run_node(*compiled, {x.view()}, view, threads, c.what);
      const std::string what = c.what + ", " + compiled->kernel_name() + ", batch " +
                               std::to_string(batch) + ", threads " + std::to_string(threads);
      ASSERT_TRUE(testing::bit_equal(got, want)) << what;
      const std::span<const float> values = got.span<float>();
      for (int64_t n = 0; n < batch; ++n) {
        const auto first = values.begin() + static_cast<std::ptrdiff_t>(n * sample);
        const SampleRange expected =
            range_of(std::vector<float>(first, first + static_cast<std::ptrdiff_t>(sample)));
        EXPECT_EQ(ranges[static_cast<size_t>(n)].max, expected.max) << what << ", sample " << n;
        EXPECT_EQ(ranges[static_cast<size_t>(n)].min, expected.min) << what << ", sample " << n;
      }
    }
  }
}

// A 1x1 layer's range holds every pixel of a short last tile: the input is
// zero but for one pixel (255 in every channel) among the plane's last 48,
// and with positive weights after a ReLU each channel's largest output, so
// the sample's maximum, lies at that pixel. Planes of 225, 169 and 100
// pixels end the pixel-vector tiles' 48-pixel tiles with 33, 25 and 4
// pixels (1 to 3 vectors, the first ones whole, the last partial).
TEST_P(ConvRanges, OnePixelOfAShortLastTileSetsTheRange) {
  const kernels::ScopedIsa forced(GetParam());
  const auto cpu = BackendRegistry::get("cpu");
  std::mt19937 gen = testing::rng(35);
  for (const int64_t side : {15, 13, 10}) {
    Conv2dOp op = quantized_conv(gen, 8, 19, 1, 1, 0, 1, Activation::kRelu);
    for (int8_t& v : op.weights.span<int8_t>()) v = static_cast<int8_t>(1 + gen() % 127);
    const Shape input{8, side, side};
    const testing::OneNodeGraph g = testing::one_node_graph("conv", {{input, DType::kU8}}, op);
    const auto compiled = cpu->compile(g.graph, g.node());
    ASSERT_TRUE(compiled->writes_ranges()) << compiled->kernel_name();
    const int64_t plane = side * side;
    for (int64_t hot = plane - 48; hot < plane; ++hot) {
      Tensor x(input.with_batch(1), DType::kU8);
      x.scales()[0] = 0.02f;
      for (int64_t c = 0; c < 8; ++c) x.span<uint8_t>()[static_cast<size_t>(c * plane + hot)] = 255;
      Tensor got(Shape{1, 19, side, side}, DType::kF32);
      SampleRange range{1e30f, -1e30f};
      TensorView view = got.view();
      view.ranges = &range;
      const std::string what = compiled->kernel_name() + ", plane " + std::to_string(side) + "x" +
                               std::to_string(side) + ", pixel " + std::to_string(hot);
      testing::run_node(*compiled, {x.view()}, view, 1, what);
      const std::span<const float> values = got.span<float>();
      const SampleRange expected = range_of(std::vector<float>(values.begin(), values.end()));
      float at_hot = 0.0f;
      for (int64_t o = 0; o < 19; ++o) {
        at_hot = std::max(at_hot, values[static_cast<size_t>(o * plane + hot)]);
      }
      ASSERT_EQ(expected.max, at_hot) << what << ": the maximum is not at the hot pixel";
      EXPECT_EQ(range.max, expected.max) << what;
      EXPECT_EQ(range.min, expected.min) << what;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryIsa, ConvRanges,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kVnni,
                                           Isa::kAmx),
                         [](const ::testing::TestParamInfo<Isa>& info) {
                           return std::string(kernels::isa_name(info.param));
                         });

// A MobileNet-like chain with dynamic quantization between the layers:
// depthwise -> quantize -> 1x1 (channel-lane tiles on VNNI) -> quantize ->
// 1x1 (pixel-vector tiles) -> quantize -> dequantize; every quantize reads
// the ranges its producer stored.
TEST(ProducerRanges, ConvolutionChainMatchesTheReferenceBackend) {
  std::mt19937 gen = testing::rng(34);
  ModelBuilder b;
  const ValueId x = b.input(Shape{16, 14, 14});
  const ValueId xq = b.quantize(x, 8, false, "quantize_input");
  const ValueId dw =
      b.conv2d(xq, quantized_conv(gen, 16, 16, 3, 1, 1, 16, Activation::kRelu), "depthwise");
  const ValueId dwq = b.quantize(dw, 8, false, "quantize_dw");
  const ValueId pw =
      b.conv2d(dwq, quantized_conv(gen, 16, 48, 1, 1, 0, 1, Activation::kNone), "pointwise");
  const ValueId pwq = b.quantize(pw, 8, true, "quantize_pw");
  const ValueId wide =
      b.conv2d(pwq, quantized_conv(gen, 48, 20, 1, 2, 0, 1, Activation::kRelu6), "strided");
  const ValueId wq = b.quantize(wide, 4, false, "quantize_strided");
  b.mark_output(b.dequantize(wq, "dequantize"));
  const auto model = std::make_shared<const Model>(b.build());
  const Tensor input = Tensor::from_floats(
      Shape{3, 16, 14, 14}, testing::random_floats(gen, 3 * 16 * 14 * 14, -1.0f, 2.0f));
  expect_cpu_matches_reference(model, input, "convolution chain");
}

}  // namespace
}  // namespace sparq
