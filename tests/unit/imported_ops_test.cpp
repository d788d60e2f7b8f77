// The operations added for imported (ONNX) models, on the reference backend,
// against values worked out by hand in the comments; their validation; their
// round trip through the .sparq file; and that the cpu and device backends
// leave them to the reference backend.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "sparq/sparq.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

// A one-node model on `inputs` (shapes per sample) and its output for one
// sample, run by a session on the reference backend.
std::vector<float> run_op(OpAttrs op, const std::vector<Shape>& shapes,
                          const std::vector<std::vector<float>>& values) {
  // Several inputs come from one graph input split by ... sparq graphs have a
  // single input, so extra operands are built from it with a concat / slice
  // free trick: every operand is the graph input itself when shapes agree;
  // otherwise the test uses single-input ops only.
  ModelBuilder b;
  ValueId x = b.input(shapes[0]);
  std::vector<ValueId> inputs(shapes.size(), x);
  b.mark_output(b.add_node(std::move(op), inputs, "op"));
  auto model = std::make_shared<const Model>(b.build());
  Session session(model, testing::session_options({"reference"}, 1));
  std::vector<int64_t> dims{1};
  for (int64_t d : shapes[0].dims()) dims.push_back(d);
  Tensor in = Tensor::from_floats(Shape(dims), values[0]);
  Tensor y = session.run(in).at(0);
  auto s = y.span<float>();
  return {s.begin(), s.end()};
}

// Runs a model whose graph input is [C, H, W] = `shape` and returns output 0.
std::vector<float> run_model(ModelBuilder& b, const Shape& shape, const std::vector<float>& x,
                             const std::vector<std::string>& backends = {"reference"}) {
  auto model = std::make_shared<const Model>(b.build());
  Session session(model, testing::session_options(backends, 1));
  std::vector<int64_t> dims{1};
  for (int64_t d : shape.dims()) dims.push_back(d);
  Tensor y = session.run(Tensor::from_floats(Shape(dims), x)).at(0);
  auto s = y.span<float>();
  return {s.begin(), s.end()};
}

TEST(ImportedOps, ChannelAffinePerChannelAndScalar) {
  // [2, 1, 2]: channel 0 = {1, -2}, channel 1 = {3, 4}; scale {2, -1}, shift {0.5, 1}:
  // {1*2+0.5, -2*2+0.5, 3*-1+1, 4*-1+1} = {2.5, -3.5, -2, -3}.
  EXPECT_EQ(run_op(ChannelAffineOp{{2.0f, -1.0f}, {0.5f, 1.0f}}, {Shape{2, 1, 2}}, {{1, -2, 3, 4}}),
            (std::vector<float>{2.5f, -3.5f, -2.0f, -3.0f}));
  // One scale for all: x * 3 - 1.
  EXPECT_EQ(run_op(ChannelAffineOp{{3.0f}, {-1.0f}}, {Shape{3}}, {{0, 1, -1}}),
            (std::vector<float>{-1.0f, 2.0f, -4.0f}));
}

TEST(ImportedOps, BroadcastBinarySameShape) {
  // a (op) a with a = {1, -2, 3}: add {2, -4, 6}, sub {0, 0, 0}, mul {1, 4, 9}.
  const std::vector<std::vector<float>> x = {{1, -2, 3}};
  EXPECT_EQ(run_op(BroadcastBinaryOp{BinaryKind::kAdd}, {Shape{3}, Shape{3}}, x),
            (std::vector<float>{2, -4, 6}));
  EXPECT_EQ(run_op(BroadcastBinaryOp{BinaryKind::kSub}, {Shape{3}, Shape{3}}, x),
            (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(run_op(BroadcastBinaryOp{BinaryKind::kMul}, {Shape{3}, Shape{3}}, x),
            (std::vector<float>{1, 4, 9}));
}

TEST(ImportedOps, BroadcastBinaryPerChannel) {
  // x = [2, 1, 2] {1, 2, 3, 4}; g = global mean per channel = {1.5, 3.5};
  // x - g = {-0.5, 0.5, -0.5, 0.5}; x * g = {1.5, 3, 10.5, 14}.
  for (auto [kind, expected] :
       {std::pair{BinaryKind::kSub, std::vector<float>{-0.5f, 0.5f, -0.5f, 0.5f}},
        std::pair{BinaryKind::kMul, std::vector<float>{1.5f, 3.0f, 10.5f, 14.0f}}}) {
    ModelBuilder b;
    ValueId x = b.input(Shape{2, 1, 2});
    ValueId g = b.global_avg_pool(x, "mean");
    b.mark_output(b.add_node(BroadcastBinaryOp{kind}, {x, g}, "op"));
    EXPECT_EQ(run_model(b, Shape{2, 1, 2}, {1, 2, 3, 4}), expected);
  }
}

TEST(ImportedOps, SigmoidAndClamp) {
  // sigmoid(0) = 0.5, sigmoid(ln 3) = 3/4, sigmoid(-ln 3) = 1/4.
  const float ln3 = std::log(3.0f);
  auto s = run_op(SigmoidOp{}, {Shape{3}}, {{0.0f, ln3, -ln3}});
  EXPECT_FLOAT_EQ(s[0], 0.5f);
  EXPECT_FLOAT_EQ(s[1], 0.75f);
  EXPECT_FLOAT_EQ(s[2], 0.25f);
  // clamp to [-1, 2]: {-3, -1, 0.5, 2, 7} -> {-1, -1, 0.5, 2, 2}.
  EXPECT_EQ(run_op(ClampOp{-1.0f, 2.0f}, {Shape{5}}, {{-3, -1, 0.5f, 2, 7}}),
            (std::vector<float>{-1, -1, 0.5f, 2, 2}));
}

TEST(ImportedOps, ConcatAlongChannels) {
  // x = [1, 1, 2] {5, 6}; concat(x, relu(x - 5.5 ... )) built as concat(x, x)
  // then concat with a per-channel mean: channels in input order.
  ModelBuilder b;
  ValueId x = b.input(Shape{1, 1, 2});
  ValueId neg = b.add_node(ChannelAffineOp{{-1.0f}, {0.0f}}, {x}, "neg");
  b.mark_output(b.add_node(ConcatOp{}, {x, neg, x}, "cat"));
  EXPECT_EQ(run_model(b, Shape{1, 1, 2}, {5, 6}), (std::vector<float>{5, 6, -5, -6, 5, 6}));
}

TEST(ImportedOps, LogSoftmax) {
  // x = {0, ln 3}: softmax {1/4, 3/4}; log {-ln 4, ln 3 - ln 4}.
  const float ln3 = std::log(3.0f), ln4 = std::log(4.0f);
  auto y = run_op(LogSoftmaxOp{}, {Shape{2}}, {{0.0f, ln3}});
  EXPECT_NEAR(y[0], -ln4, 1e-6f);
  EXPECT_NEAR(y[1], ln3 - ln4, 1e-6f);
}

TEST(ImportedOps, AveragePoolExcludingPadding) {
  // 2x2 input {1, 2, 3, 4}, 3x3 window, stride 2, pad 1: one output whose
  // window covers all four pixels: include padding 10 / 9, exclude 10 / 4.
  for (bool include : {true, false}) {
    Pool2dOp op{PoolKind::kAverage, 3, 3, 2, 2, 1, 1, include};
    auto y = run_op(op, {Shape{1, 2, 2}}, {{1, 2, 3, 4}});
    ASSERT_EQ(y.size(), 1u);
    EXPECT_FLOAT_EQ(y[0], include ? 10.0f / 9.0f : 2.5f);
  }
}

TEST(ImportedOps, InvalidAttributesAreRejected) {
  ModelBuilder b;
  ValueId x = b.input(Shape{2, 2, 2});
  EXPECT_THROW(b.add_node(ChannelAffineOp{{1, 2, 3}, {0, 0, 0}}, {x}), Error);
  EXPECT_THROW(b.add_node(ChannelAffineOp{{1, 2}, {0}}, {x}), Error);
  EXPECT_THROW(b.add_node(ClampOp{2.0f, 1.0f}, {x}), Error);
  EXPECT_THROW(b.add_node(LogSoftmaxOp{}, {x}), Error);  // needs [F]
  EXPECT_THROW(b.add_node(Pool2dOp{PoolKind::kMax, 2, 2, 2, 2, 0, 0, false}, {x}), Error);
  ValueId flat = b.flatten(x);
  EXPECT_THROW(b.add_node(ConcatOp{}, {x, flat}), Error);
  ValueId three = b.add_node(ConcatOp{}, {x, x}, "cat");  // [4, 2, 2]
  EXPECT_THROW(b.add_node(BroadcastBinaryOp{}, {x, three}), Error);
  // Non-finite constants fail validation.
  ModelBuilder c;
  ValueId y = c.input(Shape{2});
  c.mark_output(c.add_node(ChannelAffineOp{{NAN}, {0.0f}}, {y}, "bad"));
  EXPECT_THROW(c.build(), Error);
}

TEST(ImportedOps, RoundTripThroughTheModelFile) {
  ModelBuilder b;
  ValueId x = b.input(Shape{2, 3, 3});
  ValueId a = b.add_node(ChannelAffineOp{{0.5f, 2.0f}, {1.0f, -1.0f}}, {x}, "affine");
  ValueId s = b.add_node(SigmoidOp{}, {a}, "sigmoid");
  ValueId m = b.add_node(BroadcastBinaryOp{BinaryKind::kMul}, {a, s}, "gate");
  ValueId c = b.add_node(ClampOp{-0.5f, 1.5f}, {m}, "clamp");
  ValueId p = b.pool2d(c, Pool2dOp{PoolKind::kAverage, 3, 3, 2, 2, 1, 1, false}, "pool");
  ValueId cat = b.add_node(ConcatOp{}, {p, p}, "cat");
  ValueId f = b.flatten(cat, "flatten");
  b.mark_output(b.add_node(LogSoftmaxOp{}, {f}, "log_softmax"));
  const Model model = b.build();
  const auto reloaded = Model::from_bytes(model.to_bytes());
  ASSERT_EQ(reloaded->graph().nodes.size(), model.graph().nodes.size());
  for (size_t i = 0; i < model.graph().nodes.size(); ++i) {
    EXPECT_STREQ(op_name(reloaded->graph().nodes[i].op), op_name(model.graph().nodes[i].op));
  }
  const auto& pool = std::get<Pool2dOp>(reloaded->graph().nodes[4].op);
  EXPECT_FALSE(pool.count_include_pad);
  const auto& clamp = std::get<ClampOp>(reloaded->graph().nodes[3].op);
  EXPECT_EQ(clamp.min, -0.5f);
  EXPECT_EQ(clamp.max, 1.5f);
  EXPECT_EQ(std::get<ChannelAffineOp>(reloaded->graph().nodes[0].op).shift,
            (std::vector<float>{1.0f, -1.0f}));
  EXPECT_EQ(std::get<BroadcastBinaryOp>(reloaded->graph().nodes[2].op).kind, BinaryKind::kMul);
  EXPECT_EQ(reloaded->to_bytes(), model.to_bytes());
}

TEST(ImportedOps, CpuAndDeviceLeaveThemToReference) {
  ModelBuilder b;
  ValueId x = b.input(Shape{2, 2, 2});
  ValueId s = b.add_node(SigmoidOp{}, {x}, "sigmoid");
  ValueId p = b.pool2d(s, Pool2dOp{PoolKind::kAverage, 2, 2, 2, 2, 1, 1, false}, "pool");
  b.mark_output(p);
  const Model model = b.build();
  for (const char* backend : {"cpu", "device"}) {
    for (const Node& node : model.graph().nodes) {
      EXPECT_FALSE(BackendRegistry::get(backend)->supports(model.graph(), node))
          << backend << " " << node.name;
    }
  }
  // A session asking for cpu first still runs them, on reference.
  const std::vector<float> x_values = {0, 0, 0, 0, 1, 1, 1, 1};
  ModelBuilder again;
  ValueId y = again.input(Shape{2, 2, 2});
  again.mark_output(again.pool2d(again.add_node(SigmoidOp{}, {y}, "sigmoid"),
                                 Pool2dOp{PoolKind::kAverage, 2, 2, 2, 2, 1, 1, false}, "pool"));
  // Each window covers one pixel: sigmoid(0) = 0.5, sigmoid(1).
  const float s1 = 1.0f / (1.0f + std::exp(-1.0f));
  const std::vector<float> expected = {0.5f, 0.5f, 0.5f, 0.5f, s1, s1, s1, s1};
  auto got = run_model(again, Shape{2, 2, 2}, x_values, {"cpu", "reference"});
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_FLOAT_EQ(got[i], expected[i]);
}

}  // namespace
}  // namespace sparq
