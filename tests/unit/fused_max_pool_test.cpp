// The max pool fused into a quantized convolution (FusedMaxPool) and the
// graph pass that makes it (fold_max_pool):
// - the CPU node, on every ISA present and 1-3 threads, writes the values of
//   the reference's convolution node followed by its pool node (an oracle
//   that shares no code with the fused path), over first-layer, 1x1, grouped,
//   general and depthwise convolutions, pool windows with and without
//   padding, batches of 1-3, and planes wide or tall enough for several
//   bands; with the range it stores for a dynamic quantize;
// - the reference's fused node equals the same pair;
// - the pass folds exactly the single-reader, non-output, f32 outputs of
//   quantized convolutions that a max pool reads, and sessions give the same
//   bits with it on or off (CPU at 1-3 threads, batches 1-3); sessions with
//   a device keep the pool; a folded graph has no file form.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/isa/isa_override.hpp"
#include "sparq/sparq.hpp"
#include "tests/support/isa_params.hpp"
#include "tests/support/networks.hpp"
#include "tests/support/node_runner.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

using kernels::ScopedIsa;
using testing::pick;

struct PoolCase {
  Conv2dOp conv;  // pool enabled
  Shape input;    // per sample
  DType input_dtype = DType::kU8;
  std::string text;
};

Pool2dOp pool_of(const FusedMaxPool& p) {
  Pool2dOp op;
  op.kind = PoolKind::kMax;
  op.kernel_h = p.kernel_h;
  op.kernel_w = p.kernel_w;
  op.stride_h = p.stride_h;
  op.stride_w = p.stride_w;
  op.pad_h = p.pad_h;
  op.pad_w = p.pad_w;
  return op;
}

// kind 0: first layer (1-3 input channels, kernels up to 7), 1: 1x1, 2: 3x3
// over 4-40 channels, 3: depthwise, 4: grouped; `wide`: a plane of 60 x 150
// (several bands on every path).
PoolCase random_case(uint32_t seed, int kind, bool wide) {
  std::mt19937 gen = testing::rng(seed);
  PoolCase c;
  Conv2dOp& op = c.conv;
  int in_c = 0, out_c = 0;
  if (kind == 0) {
    in_c = pick(gen, 1, 3);
    out_c = pick(gen, 1, 70);
    op.kernel_h = op.kernel_w = wide ? 3 : pick(gen, 1, 7);
  } else if (kind == 1) {
    in_c = pick(gen, 4, 70);
    out_c = pick(gen, 1, 70);
    op.kernel_h = op.kernel_w = 1;
  } else if (kind == 2) {
    in_c = pick(gen, 4, 40);
    out_c = pick(gen, 1, 40);
    op.kernel_h = op.kernel_w = 3;
  } else if (kind == 3) {
    in_c = out_c = pick(gen, 1, 20);
    op.groups = in_c;
    op.kernel_h = op.kernel_w = 3;
  } else {  // grouped
    op.groups = pick(gen, 2, 3);
    in_c = op.groups * pick(gen, 1, 6);
    out_c = op.groups * pick(gen, 1, 20);
    op.kernel_h = op.kernel_w = pick(gen, 1, 3);
  }
  op.stride_h = op.stride_w = wide ? 1 : pick(gen, 1, 2);
  op.pad_h = op.pad_w = pick(gen, 0, op.kernel_h / 2);
  op.activation = static_cast<Activation>(pick(gen, 0, 2));
  op.weights = Tensor(Shape{out_c, in_c / op.groups, op.kernel_h, op.kernel_w},
                      pick(gen, 0, 1) ? DType::kS4 : DType::kS8);
  // s8: symmetric -127..127; s4: two arbitrary nibbles.
  const bool s8 = op.weights.dtype() == DType::kS8;
  for (uint8_t& b : op.weights.span<uint8_t>()) {
    b = static_cast<uint8_t>(s8 ? pick(gen, -127, 127) : pick(gen, 0, 255));
  }
  op.weight_scales = testing::random_floats(gen, static_cast<size_t>(out_c), 0.001f, 0.05f);
  op.bias = testing::random_floats(gen, static_cast<size_t>(out_c), -1.0f, 1.0f);
  FusedMaxPool& p = op.pool;
  p.enabled = true;
  p.kernel_h = pick(gen, 1, 3);
  p.kernel_w = pick(gen, 1, 3);
  p.stride_h = pick(gen, 1, 3);
  p.stride_w = pick(gen, 1, 3);
  p.pad_h = pick(gen, 0, p.kernel_h - 1);
  p.pad_w = pick(gen, 0, p.kernel_w - 1);
  if (wide) p = FusedMaxPool{true, 3, 3, 2, 2, 1, 1};
  // The layer's planes at least as large as the pool's window.
  const int h = wide ? 60 : pick(gen, 3, 30), w = wide ? 150 : pick(gen, 3, 30);
  c.input = Shape{in_c, std::max(h, op.kernel_h + 2), std::max(w, op.kernel_w + 2)};
  c.input_dtype = pick(gen, 0, 1) ? DType::kU8 : DType::kS8;
  c.text = "seed " + std::to_string(seed) + " I=" + std::to_string(in_c) +
           " O=" + std::to_string(out_c) + " g=" + std::to_string(op.groups) +
           " in=" + c.input.to_string() + " k=" + std::to_string(op.kernel_h) +
           " s=" + std::to_string(op.stride_h) + " p=" + std::to_string(op.pad_h) +
           " act=" + to_string(op.activation) + " pool " + std::to_string(p.kernel_h) + "x" +
           std::to_string(p.kernel_w) + " s" + std::to_string(p.stride_h) + "x" +
           std::to_string(p.stride_w) + " p" + std::to_string(p.pad_h) + "x" +
           std::to_string(p.pad_w);
  return c;
}

Tensor random_input(const PoolCase& c, int64_t batch, uint32_t seed) {
  std::mt19937 gen = testing::rng(seed);
  return c.input_dtype == DType::kU8 ? testing::random_u8(gen, c.input.with_batch(batch))
                                     : testing::random_s8(gen, c.input.with_batch(batch));
}

testing::OneNodeGraph fused_graph(const PoolCase& c) {
  return testing::one_node_graph("layer", {{c.input, c.input_dtype}}, c.conv);
}

// The oracle: the reference's layer without the pool, then its pool node.
Tensor unfused_reference(const PoolCase& c, const Tensor& input) {
  const auto reference = BackendRegistry::get("reference");
  Conv2dOp plain = c.conv;
  plain.pool = FusedMaxPool{};
  const auto layer = testing::one_node_graph("layer", {{c.input, c.input_dtype}}, plain);
  const Tensor y = testing::run_on(*reference, layer, {&input}, 1);
  const auto pool =
      testing::one_node_graph("pool", {{layer.output().shape, DType::kF32}}, pool_of(c.conv.pool));
  return testing::run_on(*reference, pool, {&y}, 1);
}

// Runs the CPU node with `threads` and returns its output; `ranges`
// receives the per-sample ranges it stored.
Tensor run_cpu(const PoolCase& c, const Tensor& input, int threads, std::string* kernel,
               std::vector<SampleRange>* ranges) {
  const testing::OneNodeGraph g = fused_graph(c);
  const auto node = BackendRegistry::get("cpu")->compile(g.graph, g.node());
  *kernel = node->kernel_name();
  EXPECT_TRUE(node->writes_ranges()) << *kernel;
  const int64_t batch = input.shape()[0];
  Tensor output(g.output().shape.with_batch(batch), DType::kF32);
  ranges->assign(static_cast<size_t>(batch), SampleRange{});
  TensorView view = output.view();
  view.ranges = ranges->data();
  testing::run_node(*node, {input.view()}, view, threads, "cpu " + *kernel);
  return output;
}

class FusedMaxPoolCpu : public testing::IsaTest {};

TEST_P(FusedMaxPoolCpu, MatchesTheReferenceLayerThenPool) {
  ScopedIsa forced(GetParam());
  int cases = 0;
  for (uint32_t seed = 0; seed < 30 && !HasFailure(); ++seed) {
    const bool wide = seed % 8 == 7;
    const PoolCase c = random_case(seed + 100, static_cast<int>(seed % 5), wide);
    const int64_t batch = 1 + seed % 3;
    const Tensor input = random_input(c, batch, seed + 500);
    const Tensor want = unfused_reference(c, input);
    for (int threads = 1; threads <= 3; ++threads) {
      std::string kernel;
      std::vector<SampleRange> ranges;
      const Tensor got = run_cpu(c, input, threads, &kernel, &ranges);
      ASSERT_TRUE(testing::bit_equal(got, want))
          << kernel << " threads " << threads << ": " << c.text;
      EXPECT_NE(kernel.find("_max_pool"), std::string::npos) << kernel;
      // Outputs are finite (bounded weights, scales and bias): the stored
      // range is the output's (after a ReLU the maxima only count).
      const int64_t sample = want.shape().elements() / batch;
      for (int64_t n = 0; n < batch; ++n) {
        const float* v = want.data<float>() + n * sample;
        const auto [lo, hi] = std::minmax_element(v, v + sample);
        EXPECT_EQ(ranges[static_cast<size_t>(n)].max, std::max(*hi, 0.0f)) << kernel << " " << n;
        if (c.conv.activation == Activation::kNone) {
          EXPECT_EQ(ranges[static_cast<size_t>(n)].min, std::min(*lo, 0.0f)) << kernel;
        }
      }
    }
    ++cases;
  }
  EXPECT_EQ(cases, 30);
}

INSTANTIATE_TEST_SUITE_P(Isas, FusedMaxPoolCpu, testing::kEveryIsa, testing::isa_test_name);

TEST(FusedMaxPoolReference, EqualsTheLayerThenAPoolNode) {
  for (uint32_t seed = 0; seed < 16; ++seed) {
    const PoolCase c = random_case(seed + 700, static_cast<int>(seed % 5), false);
    const Tensor input = random_input(c, 2, seed + 800);
    const Tensor got =
        testing::run_on(*BackendRegistry::get("reference"), fused_graph(c), {&input}, 1);
    EXPECT_TRUE(testing::bit_equal(got, unfused_reference(c, input))) << c.text;
  }
}

// ---- the pass -------------------------------------------------------------

Conv2dOp small_conv(int in_c, int out_c, uint32_t seed, DType weights = DType::kS8) {
  std::mt19937 gen = testing::rng(seed);
  Conv2dOp op;
  op.kernel_h = op.kernel_w = 3;
  op.pad_h = op.pad_w = 1;
  op.activation = Activation::kRelu;
  op.weights = Tensor(Shape{out_c, in_c, 3, 3}, weights);
  if (weights == DType::kF32) {
    for (float& v : op.weights.span<float>()) v = 0.1f;
  } else {
    for (uint8_t& b : op.weights.span<uint8_t>()) b = static_cast<uint8_t>(pick(gen, -127, 127));
    op.weight_scales.assign(static_cast<size_t>(out_c), 0.01f);
  }
  op.bias.assign(static_cast<size_t>(out_c), 0.0f);
  return op;
}

Pool2dOp max_pool() {
  return pool_of(FusedMaxPool{true, 3, 3, 2, 2, 1, 1});
}

TEST(FoldMaxPool, FoldsOnlySingleReaderF32QuantizedConvolutions) {
  ModelBuilder b;
  const ValueId x = b.input(Shape{4, 9, 9});
  const ValueId q = b.quantize(x, 8, false, "q");
  const ValueId pa = b.pool2d(b.conv2d(q, small_conv(4, 4, 1), "a"), max_pool(), "pool_a");
  // Not folded: an average pool, a float convolution, a layer output that
  // is also a graph output, one read twice, one with a static output
  // quantization (its pool runs on bytes).
  Pool2dOp average = max_pool();
  average.kind = PoolKind::kAverage;
  const ValueId pb = b.pool2d(b.conv2d(q, small_conv(4, 4, 2), "b"), average, "pool_b");
  const ValueId pc =
      b.pool2d(b.conv2d(x, small_conv(4, 4, 3, DType::kF32), "c"), max_pool(), "pool_c");
  const ValueId yd = b.conv2d(q, small_conv(4, 4, 4), "d");
  b.mark_output(yd);
  const ValueId pd = b.pool2d(yd, max_pool(), "pool_d");
  const ValueId ye = b.conv2d(q, small_conv(4, 4, 5), "e");
  const ValueId pe = b.add(b.pool2d(ye, max_pool(), "pool_e"), b.pool2d(ye, average, "avg_e"),
                           Activation::kNone, "add_e");
  Conv2dOp quantized = small_conv(4, 4, 6);
  quantized.output_quantization = OutputQuantization{0.05f, 8, false};
  const ValueId pf = b.pool2d(b.conv2d(q, quantized, "f"), max_pool(), "pool_f");
  for (ValueId v : {pa, pb, pc, pd, pe, pf}) b.mark_output(v);
  const Graph before = b.build().graph();
  validate(before);
  int count = -1;
  const Graph after = fold_max_pool(before, &count);
  EXPECT_EQ(count, 1);
  validate(after);
  ASSERT_EQ(after.nodes.size(), before.nodes.size() - 1);
  EXPECT_EQ(testing::find_node(after, "pool_a"), nullptr);
  for (const char* kept : {"pool_b", "pool_c", "pool_d", "pool_e", "avg_e", "pool_f"}) {
    EXPECT_NE(testing::find_node(after, kept), nullptr) << kept;
  }
  const Node* a = testing::find_node(after, "a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(std::get<Conv2dOp>(a->op).pool, (FusedMaxPool{true, 3, 3, 2, 2, 1, 1}));
  EXPECT_EQ(after.value(a->output).name, before.value(pa).name);
  EXPECT_EQ(after.value(a->output).shape, (Shape{4, 5, 5}));
  int again = -1;
  fold_max_pool(after, &again);
  EXPECT_EQ(again, 0);
  testing::expect_no_file_form(after, "fold_max_pool");
}

// A narrow ResNet-18 (its stem and max pool) through sessions with the pass
// on and off: the same bits at 1-3 threads and batches 1-3, the pool gone
// from the CPU sessions, kept where a device may run it.
TEST(FoldMaxPool, SessionsWithAndWithoutTheFoldAgreeBitForBit) {
  testing::NetworkOptions options;
  options.density = 3;
  options.sharing = PatternSharing{16, 4};
  const auto model = std::make_shared<const Model>(testing::build_resnet18(options, 40, 8, 10));
  std::mt19937 gen = testing::rng(43);
  const Tensor input = testing::random_f32(gen, Shape{3, 3, 40, 40}, -1.0f, 1.0f);
  const int64_t pools = testing::expect_fold_agrees_bit_for_bit(
      model, input, [](SessionOptions& o) { o.fold_max_pool = false; },
      [](const Session& s) -> int64_t {
        return std::count_if(s.placements().begin(), s.placements().end(),
                             [](const Placement& p) { return p.node == "stem_pool"; });
      });
  EXPECT_EQ(pools, 1);
}

}  // namespace
}  // namespace sparq
