// The residual add fused into a sparse 3x3 convolution (FusedResidual) and
// the graph pass that makes it (fold_residual_add):
// - every CPU sparse 3x3 path (each candidate path of every ISA present, the
//   emulated tile program too) writes the reference backend's fused values,
//   over random shapes, densities, strides, activations of the layer and of
//   the add, both operand orders, residuals holding NaN, infinities and -0,
//   1-3 threads, with the range it stores for a dynamic quantize;
// - the reference's fused node equals its unfused pair (the layer, then an
//   AddOp node) bit for bit: an independent check of the fused reference;
// - the pass folds exactly the single-reader, non-output, f32 sparse
//   operands of adds, moves the layer to the add's place, and sessions give
//   the same bits with it on or off (CPU at 1-3 threads and batches 1-3);
//   sessions with a device keep the add; a folded graph has no file form.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/isa/isa.hpp"
#include "kernels/isa/isa_override.hpp"
#include "kernels/quantize/quantize.hpp"
#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"
#include "runtime/backends/cpu/sparse_conv3x3_workers.hpp"
#include "sparq/sparq.hpp"
#include "tests/support/isa_params.hpp"
#include "tests/support/larger_arena.hpp"
#include "tests/support/networks.hpp"
#include "tests/support/node_runner.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

using kernels::Isa;
using kernels::ScopedIsa;

using testing::pick;

struct ResidualCase {
  SparseConv3x3Op op;  // residual enabled
  Shape input;         // per sample
  Shape output;        // per sample
  std::string text;
};

ResidualCase random_case(uint32_t seed, int min_out = 1, int max_out = 40) {
  std::mt19937 gen = testing::rng(seed);
  ResidualCase c;
  const PatternSharing sharings[] = {{1, 1}, {4, 4}, {16, 4}};
  c.op =
      testing::random_sparse_layer(gen, min_out, max_out, static_cast<int>(seed % 9) + 1, sharings);
  SparseConv3x3Op& op = c.op;
  op.residual = FusedResidual{true, pick(gen, 0, 1) == 1, static_cast<Activation>(pick(gen, 0, 2))};
  const int h = pick(gen, 1, 17), w = pick(gen, 1, 29);
  c.input = Shape{op.in_channels, h, w};
  c.output = Shape{op.out_channels, (h - 1) / op.stride + 1, (w - 1) / op.stride + 1};
  c.text = "I=" + std::to_string(op.in_channels) + " O=" + std::to_string(op.out_channels) +
           " in=" + c.input.to_string() + " s=" + std::to_string(op.stride) +
           " k=" + std::to_string(op.density) + " act=" + to_string(op.activation) +
           " add_act=" + to_string(op.residual.activation) +
           (op.residual.residual_first ? " r+y" : " y+r");
  return c;
}

kernels::Sparse3x3Problem problem_of(const ResidualCase& c) {
  return testing::sparse_problem(c.op, c.input, DType::kU8);
}

testing::OneNodeGraph fused_graph(const ResidualCase& c) {
  return testing::one_node_graph("layer", {{c.input, DType::kU8}, {c.output, DType::kF32}}, c.op);
}

// The range of the values of `t`, or false where one is infinite: lanes
// that took an infinity (a ReLU's keep only maxima) are folded again from
// the values by the node (fold_range_lanes), so the kernel's lanes alone
// are checked on finite outputs.
bool finite_range(const Tensor& t, SampleRange* range) {
  *range = SampleRange{};
  for (float v : t.span<float>()) {
    if (std::isinf(v)) return false;
    if (std::isnan(v)) continue;
    range->max = std::max(range->max, v);
    range->min = std::min(range->min, v);
  }
  return true;
}

class FusedResidualKernels : public testing::IsaTest {};

// Runs `kernel` on sample 0 with the residual, into guarded f32 memory with
// `threads` workers over garbage scratch; `range` receives the folded range
// the workers widened.
Tensor run_fused_kernel(const kernels::SparseConv3x3Kernel& kernel, const ResidualCase& c,
                        const Tensor& input, const Tensor& residual, int threads,
                        SampleRange* range) {
  testing::GuardedBuffer out(static_cast<size_t>(c.output.elements()) * 4);
  testing::GuardedBuffer scratch(cpu::sparse_conv3x3_sample_scratch(kernel, threads));
  kernels::Sparse3x3Sample sample;
  sample.input = input.raw();
  sample.act_scale = input.scales()[0];
  sample.output = out.data();
  sample.widen_range = true;
  sample.residual = residual.data<float>();
  sample.residual_add = c.op.residual;
  for (int w = 0; w < threads; ++w) {
    std::construct_at(kernel.worker_range(
        cpu::sparse_conv3x3_worker_scratch(kernel, scratch.data(), threads, w)));
  }
  testing::run_in_larger_arena(
      threads, [&] { cpu::run_sparse_conv3x3_sample(kernel, sample, scratch.data(), threads); });
  EXPECT_TRUE(out.damaged_guard().empty()) << "output guard " << out.damaged_guard();
  EXPECT_TRUE(scratch.damaged_guard().empty()) << "scratch guard " << scratch.damaged_guard();
  *range = SampleRange{};
  for (int w = 0; w < threads; ++w) {
    const kernels::RangeLanes& lanes = *kernel.worker_range(
        cpu::sparse_conv3x3_worker_scratch(kernel, scratch.data(), threads, w));
    kernels::fold_lanes(lanes, *range);
  }
  Tensor result(c.output.with_batch(1), DType::kF32);
  std::memcpy(result.raw(), out.data(), result.bytes());
  return result;
}

TEST_P(FusedResidualKernels, EveryPathMatchesTheReference) {
  ScopedIsa forced(GetParam());
  const auto reference = BackendRegistry::get("reference");
  int paths_run = 0, ranges_checked = 0;
  for (uint32_t seed = 0; seed < 30; ++seed) {
    const ResidualCase c = random_case(seed);
    std::mt19937 gen = testing::rng(seed + 9000);
    const Tensor input = testing::random_u8(gen, c.input.with_batch(1), pick(gen, 0, 1) ? 15 : 255);
    // Odd seeds: finite residuals, whose outputs' ranges the lanes must hold.
    const Tensor residual = seed % 2 == 0
                                ? testing::awkward_f32(gen, c.output.with_batch(1))
                                : testing::random_f32(gen, c.output.with_batch(1), -3.0f, 3.0f);
    const Tensor want = testing::run_on(*reference, fused_graph(c), {&input, &residual}, 1);
    SampleRange want_range;
    const bool finite = finite_range(want, &want_range);
    const kernels::Sparse3x3Problem p = problem_of(c);
    for (const auto& kernel : testing::candidate_kernels(p, c.op, GetParam())) {
      for (int threads = 1; threads <= 3; ++threads) {
        SampleRange range;
        const Tensor got = run_fused_kernel(kernel, c, input, residual, threads, &range);
        EXPECT_TRUE(testing::bit_equal(got, want))
            << kernel.name() << " threads " << threads << " seed " << seed << ": " << c.text;
        if (!finite) continue;
        ++ranges_checked;
        EXPECT_EQ(range.max, want_range.max) << kernel.name() << " seed " << seed << ": " << c.text;
        if (c.op.residual.activation == Activation::kNone) {
          // After a ReLU the lanes keep the maxima only.
          EXPECT_EQ(range.min, want_range.min) << kernel.name() << " seed " << seed;
        }
      }
      ++paths_run;
    }
  }
  EXPECT_GT(paths_run, 30);
  EXPECT_GE(ranges_checked, paths_run);  // odd seeds, 3 thread counts each
}

INSTANTIATE_TEST_SUITE_P(Isas, FusedResidualKernels, testing::kEveryIsa, testing::isa_test_name);

// The AMX tile program's epilogue on the portable tile model (CPUs with
// AVX-512), 16 to 64 output channels per block.
TEST(FusedResidualKernels, EmulatedTileProgramMatchesTheReference) {
  if (!kernels::isa_supported(Isa::kAvx512)) GTEST_SKIP() << "needs AVX-512";
  const auto reference = BackendRegistry::get("reference");
  for (uint32_t seed = 100; seed < 106; ++seed) {
    const ResidualCase c = random_case(seed, 40, 64);
    std::mt19937 gen = testing::rng(seed);
    const Tensor input = testing::random_u8(gen, c.input.with_batch(1));
    const Tensor residual = testing::awkward_f32(gen, c.output.with_batch(1));
    const Tensor want = testing::run_on(*reference, fused_graph(c), {&input, &residual}, 1);
    const kernels::Sparse3x3Problem p = problem_of(c);
    for (int channel_tiles = 1; channel_tiles <= 4; ++channel_tiles) {
      const kernels::Sparse3x3Path path = testing::emulated_tile_path(channel_tiles);
      const auto kernel = kernels::SparseConv3x3Kernel::create_emulating_tiles(
          p, c.op.taps, c.op.weight_scales, c.op.bias, c.op.activation, path);
      SampleRange range;
      const Tensor got = run_fused_kernel(kernel, c, input, residual, 2, &range);
      EXPECT_TRUE(testing::bit_equal(got, want))
          << kernel.name() << " seed " << seed << ": " << c.text;
    }
  }
}

// ---- the reference's fused node against its unfused pair ------------------

TEST(FusedResidualReference, EqualsTheLayerThenAnAddNode) {
  for (uint32_t seed = 0; seed < 30; ++seed) {
    const ResidualCase c = random_case(seed + 200);
    std::mt19937 gen = testing::rng(seed + 300);
    const Tensor input = testing::random_u8(gen, c.input.with_batch(3));
    const Tensor residual = testing::awkward_f32(gen, c.output.with_batch(3));
    // Unfused: the layer's own output, then an AddOp in the same order.
    SparseConv3x3Op plain = c.op;
    plain.residual = FusedResidual{};
    const Tensor y = testing::run_on(
        *BackendRegistry::get("reference"),
        testing::one_node_graph("layer", {{c.input, DType::kU8}}, plain), {&input}, 1);
    const bool r_first = c.op.residual.residual_first;
    const auto add = testing::one_node_graph(
        "add", {{c.output, DType::kF32}, {c.output, DType::kF32}}, AddOp{c.op.residual.activation});
    const Tensor want = testing::run_on(*BackendRegistry::get("reference"), add,
                                        {r_first ? &residual : &y, r_first ? &y : &residual}, 1);
    const Tensor got =
        testing::run_on(*BackendRegistry::get("reference"), fused_graph(c), {&input, &residual}, 1);
    EXPECT_TRUE(testing::bit_equal(got, want)) << "seed " << seed << ": " << c.text;
  }
}

// ---- the pass -------------------------------------------------------------

TEST(FoldResidualAdd, FoldsOnlySingleReaderF32SparseOperands) {
  ModelBuilder b;
  const ValueId x = b.input(Shape{4, 6, 6});
  const ValueId q = b.quantize(x, 8, false, "q");
  // a: y first; b: y second, the add's other operand computed after the
  // layer (a shortcut), so the fused node must move to the add's place.
  const ValueId ya =
      b.sparse_conv3x3(q, testing::small_sparse_layer(4, 4, 1, Activation::kNone), "a");
  const ValueId sum_a = b.add(ya, x, Activation::kRelu, "add_a");
  const ValueId yb =
      b.sparse_conv3x3(q, testing::small_sparse_layer(4, 4, 2, Activation::kRelu), "b");
  const ValueId shortcut = b.activation(sum_a, Activation::kRelu6, "shortcut");
  const ValueId sum_b = b.add(shortcut, yb, Activation::kNone, "add_b");
  // Not folded: a layer output that is also a graph output, one read twice,
  // one with a static output quantization, and an add of a value with itself.
  const ValueId yc =
      b.sparse_conv3x3(q, testing::small_sparse_layer(4, 4, 3, Activation::kNone), "c");
  const ValueId sum_c = b.add(yc, sum_b, Activation::kNone, "add_c");
  b.mark_output(yc);
  const ValueId yd =
      b.sparse_conv3x3(q, testing::small_sparse_layer(4, 4, 4, Activation::kNone), "d");
  const ValueId sum_d = b.add(yd, sum_c, Activation::kNone, "add_d");
  const ValueId twice = b.add(sum_d, yd, Activation::kNone, "add_twice");
  SparseConv3x3Op quantized = testing::small_sparse_layer(4, 4, 5, Activation::kRelu);
  quantized.output_quantization = OutputQuantization{0.05f, 8, false};
  const ValueId ye = b.sparse_conv3x3(q, quantized, "e");
  const ValueId sum_e = b.add(b.dequantize(ye, "e_f32"), twice, Activation::kNone, "add_e");
  const ValueId yf =
      b.sparse_conv3x3(q, testing::small_sparse_layer(4, 4, 6, Activation::kNone), "f");
  b.mark_output(
      b.add(sum_e, b.add(yf, yf, Activation::kNone, "add_self"), Activation::kNone, "add_last"));
  const Graph before = b.build().graph();
  validate(before);
  int count = -1;
  const Graph after = fold_residual_add(before, &count);
  EXPECT_EQ(count, 2);
  validate(after);
  ASSERT_EQ(after.nodes.size(), before.nodes.size() - 2);
  for (const char* gone : {"add_a", "add_b"})
    EXPECT_EQ(testing::find_node(after, gone), nullptr) << gone;
  for (const char* kept : {"add_c", "add_d", "add_twice", "add_e", "add_self"}) {
    EXPECT_NE(testing::find_node(after, kept), nullptr) << kept;
  }
  const Node* a = testing::find_node(after, "a");
  ASSERT_NE(a, nullptr);
  const auto& fa = std::get<SparseConv3x3Op>(a->op).residual;
  EXPECT_TRUE(fa.enabled);
  EXPECT_FALSE(fa.residual_first);
  EXPECT_EQ(fa.activation, Activation::kRelu);
  ASSERT_EQ(a->inputs.size(), 2u);
  EXPECT_EQ(after.value(a->inputs[1]).name, before.value(x).name);
  const Node* fb = testing::find_node(after, "b");
  ASSERT_NE(fb, nullptr);
  EXPECT_TRUE(std::get<SparseConv3x3Op>(fb->op).residual.residual_first);
  // b runs after the shortcut it reads.
  EXPECT_LT(testing::find_node(after, "shortcut") - after.nodes.data(), fb - after.nodes.data());
  int again = -1;
  fold_residual_add(after, &again);
  EXPECT_EQ(again, 0);
  // The fused form has no file form.
  testing::expect_no_file_form(after, "fold_residual_add");
}

// A ResNet-20 (two widths, shared and random patterns) through sessions with
// the pass on and off: the same bits at 1-3 threads and batches 1-3, the
// adds gone from the CPU sessions, kept where a device may run them.
TEST(FoldResidualAdd, SessionsWithAndWithoutTheFoldAgreeBitForBit) {
  testing::NetworkOptions options;
  options.density = 2;
  options.sharing = PatternSharing{16, 4};
  const auto model = std::make_shared<const Model>(testing::build_resnet20(options, 16, 16));
  std::mt19937 gen = testing::rng(41);
  const Tensor input = testing::random_f32(gen, Shape{3, 3, 16, 16}, -1.0f, 1.0f);
  testing::expect_fold_agrees_bit_for_bit(
      model, input, [](SessionOptions& o) { o.fold_residual_add = false; },
      [](const Session& s) -> int64_t {
        return std::count_if(s.placements().begin(), s.placements().end(), [](const Placement& p) {
          return p.node.size() > 4 && p.node.compare(p.node.size() - 4, 4, ".add") == 0;
        });
      });
}

// A ReLU layer whose add has no activation writes negative sums: the fused
// node's output is the add's, not rectified (output_activation), so neither
// a max pool nor a u8 quantize reading it may take the paths for values
// >= +0 (a pool starting from +0, the unclamped rounding). Residuals in
// [-2, 1] make most sums negative; sessions with and without the fold agree.
TEST(FoldResidualAdd, ALayersReluBeforeAnAddWithoutOneLeavesNegativeSums) {
  std::mt19937 gen = testing::rng(77);
  SparseConv3x3Op op;
  op.in_channels = op.out_channels = 8;
  op.density = 3;
  op.activation = Activation::kRelu;
  op.taps = testing::random_taps(gen, 8, 8, 3, op.sharing);
  op.weight_scales = testing::random_floats(gen, 8, 0.001f, 0.01f);
  op.bias = testing::random_floats(gen, 8, -0.2f, 0.2f);
  for (const bool pooled : {true, false}) {
    ModelBuilder b;
    const ValueId x = b.input(Shape{8, 6, 6});
    const ValueId y = b.sparse_conv3x3(b.quantize(x), op, "conv");
    ValueId sum = b.add(y, x, Activation::kNone, "add");
    if (pooled) {
      Pool2dOp pool;
      pool.kind = PoolKind::kMax;
      pool.kernel_h = pool.kernel_w = pool.stride_h = pool.stride_w = 2;
      sum = b.pool2d(sum, pool, "pool");
    }
    b.mark_output(b.quantize_static(sum, 0.01f, 8, false, "out"));
    const auto model = std::make_shared<const Model>(b.build());
    const Tensor input = testing::random_f32(gen, Shape{2, 8, 6, 6}, -2.0f, 1.0f);
    SCOPED_TRACE(pooled ? "max pool, then u8" : "u8");
    testing::expect_fold_agrees_bit_for_bit(
        model, input, [](SessionOptions& o) { o.fold_residual_add = false; },
        [](const Session& s) -> int64_t {
          return std::count_if(s.placements().begin(), s.placements().end(),
                               [](const Placement& p) { return p.node == "add"; });
        });
  }
}

}  // namespace
}  // namespace sparq
