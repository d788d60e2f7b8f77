// The reference backend against libtorch on real layer shapes: float conv2d,
// pooling, global average pooling and fully connected in fp32 (relative 1e-4),
// and the quantized convolutions against torch's conv2d in double on the
// dequantized operands, which equals the contract's output up to the final
// fma rounding (relative 1e-5).
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sparq/sparq.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

class TorchOracle : public ::testing::Test {
 protected:
  // The machine is shared: one torch thread keeps the comparison cheap.
  static void SetUpTestSuite() { torch::set_num_threads(1); }
};

Tensor run_last_node(const Graph& graph, const Tensor& input) {
  const Node& node = graph.nodes.back();
  auto compiled = BackendRegistry::get("reference")->compile(graph, node);
  const Value& out = graph.value(node.output);
  Tensor output(out.shape.with_batch(input.shape()[0]), out.dtype);
  std::vector<ConstTensorView> inputs = {input.view()};
  compiled->run(inputs, output.view(), ExecContext{});
  return output;
}

torch::Tensor to_torch(const Tensor& t) {
  return torch::from_blob(const_cast<void*>(t.raw()), t.shape().dims(), torch::kFloat32).clone();
}

torch::Tensor to_torch(const std::vector<float>& v) {
  return torch::from_blob(const_cast<float*>(v.data()), {static_cast<int64_t>(v.size())},
                          torch::kFloat32)
      .clone();
}

// |ours - theirs| <= rel * (|theirs| + floor) element-wise, where `floor`
// (a fraction of the tensor's largest magnitude) covers outputs that are
// near zero only because large terms cancelled.
::testing::AssertionResult close(const Tensor& ours, const torch::Tensor& theirs_any, double rel,
                                 const torch::Tensor& magnitude_any = {}) {
  const torch::Tensor theirs = theirs_any.to(torch::kFloat64).contiguous();
  if (theirs.sizes().vec() != ours.shape().dims()) {
    return ::testing::AssertionFailure()
           << "shape " << ours.shape().to_string() << " vs torch " << theirs.sizes();
  }
  const torch::Tensor magnitude =
      magnitude_any.defined() ? magnitude_any.to(torch::kFloat64).contiguous() : theirs.abs();
  const double floor = 1e-3 * theirs.abs().max().item<double>();
  const double* t = theirs.data_ptr<double>();
  const double* m = magnitude.data_ptr<double>();
  const float* o = ours.data<float>();
  for (int64_t e = 0; e < theirs.numel(); ++e) {
    const double limit = rel * (m[e] + floor);
    if (!(std::fabs(o[e] - t[e]) <= limit)) {
      return ::testing::AssertionFailure() << "element " << e << ": sparq " << o[e] << ", torch "
                                           << t[e] << " (limit " << limit << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

// ---- float convolution ----------------------------------------------------

struct FloatConvCase {
  std::string name;
  int64_t batch, in_channels, out_channels, height, width, kernel, stride, pad, groups;
};

class FloatConv : public TorchOracle, public ::testing::WithParamInterface<FloatConvCase> {};

TEST_P(FloatConv, MatchesTorch) {
  const FloatConvCase& c = GetParam();
  auto gen = testing::rng(static_cast<uint32_t>(c.in_channels * 1000 + c.out_channels + c.stride));
  Conv2dOp op;
  op.kernel_h = op.kernel_w = static_cast<int>(c.kernel);
  op.stride_h = op.stride_w = static_cast<int>(c.stride);
  op.pad_h = op.pad_w = static_cast<int>(c.pad);
  op.groups = static_cast<int>(c.groups);
  op.weights = testing::random_f32(
      gen, {c.out_channels, c.in_channels / c.groups, c.kernel, c.kernel}, -0.3f, 0.3f);
  op.bias = testing::random_floats(gen, static_cast<size_t>(c.out_channels), -0.5f, 0.5f);
  ModelBuilder builder;
  builder.conv2d(builder.input({c.in_channels, c.height, c.width}), op);
  const Tensor input = testing::random_f32(gen, {c.batch, c.in_channels, c.height, c.width});
  const Tensor ours = run_last_node(builder.graph(), input);
  const torch::Tensor x = to_torch(input), w = to_torch(op.weights), b = to_torch(op.bias);
  const torch::Tensor theirs = torch::conv2d(x, w, b, c.stride, c.pad, 1, c.groups);
  // Relative to the sum of the terms' magnitudes: fp32 sums of hundreds of
  // terms that cancel to near zero legitimately differ in the last bits.
  const torch::Tensor magnitude =
      torch::conv2d(x.abs(), w.abs(), b.abs(), c.stride, c.pad, 1, c.groups);
  EXPECT_TRUE(close(ours, theirs, 1e-4, magnitude));
}

void PrintTo(const FloatConvCase& c, std::ostream* os) {
  *os << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    RealShapes, FloatConv,
    ::testing::Values(FloatConvCase{"rgb3to16_32x32", 2, 3, 16, 32, 32, 3, 1, 1, 1},
                      FloatConvCase{"resnet64to64_56x56", 1, 64, 64, 56, 56, 3, 1, 1, 1},
                      FloatConvCase{"down64to128_s2", 1, 64, 128, 56, 56, 3, 2, 1, 1},
                      FloatConvCase{"pointwise64to256_14x14", 2, 64, 256, 14, 14, 1, 1, 0, 1},
                      FloatConvCase{"depthwise32_28x28", 2, 32, 32, 28, 28, 3, 1, 1, 32},
                      FloatConvCase{"stem7x7_s2_64x64", 1, 3, 64, 64, 64, 7, 2, 3, 1},
                      FloatConvCase{"grouped4_odd_15x13", 3, 8, 12, 15, 13, 3, 2, 0, 4}),
    [](const auto& info) { return info.param.name; });

// ---- pooling and fully connected ----------------------------------------------

TEST_F(TorchOracle, MaxAndAveragePooling) {
  auto gen = testing::rng(3);
  const Tensor input = testing::random_f32(gen, {2, 64, 56, 56}, -3.0f, 3.0f);
  const torch::Tensor x = to_torch(input);
  for (Pool2dOp op :
       {Pool2dOp{PoolKind::kMax, 3, 3, 2, 2, 1, 1}, Pool2dOp{PoolKind::kMax, 2, 2, 2, 2, 0, 0},
        Pool2dOp{PoolKind::kAverage, 2, 2, 2, 2, 0, 0},
        Pool2dOp{PoolKind::kAverage, 3, 3, 1, 1, 1, 1},
        Pool2dOp{PoolKind::kAverage, 5, 3, 3, 2, 2, 1}}) {
    ModelBuilder builder;
    builder.pool2d(builder.input({64, 56, 56}), op);
    const Tensor ours = run_last_node(builder.graph(), input);
    const std::vector<int64_t> kernel = {op.kernel_h, op.kernel_w},
                               stride = {op.stride_h, op.stride_w}, pad = {op.pad_h, op.pad_w};
    const torch::Tensor theirs =
        op.kind == PoolKind::kMax ? torch::max_pool2d(x, kernel, stride, pad)
                                  : torch::avg_pool2d(x, kernel, stride, pad, /*ceil_mode=*/false,
                                                      /*count_include_pad=*/true);
    EXPECT_TRUE(close(ours, theirs, op.kind == PoolKind::kMax ? 0.0 : 1e-4))
        << op_name(OpAttrs{op});
  }
}

TEST_F(TorchOracle, GlobalAveragePooling) {
  auto gen = testing::rng(4);
  const Tensor input = testing::random_f32(gen, {3, 512, 7, 7}, 0.0f, 4.0f);
  ModelBuilder builder;
  builder.global_avg_pool(builder.input({512, 7, 7}));
  EXPECT_TRUE(close(run_last_node(builder.graph(), input), to_torch(input).mean({2, 3}), 1e-4));
}

TEST_F(TorchOracle, FullyConnected) {
  auto gen = testing::rng(5);
  FullyConnectedOp op;
  op.weights = testing::random_f32(gen, {1000, 512}, -0.1f, 0.1f);
  op.bias = testing::random_floats(gen, 1000, -0.1f, 0.1f);
  ModelBuilder builder;
  builder.fully_connected(builder.input({512}), op);
  const Tensor input = testing::random_f32(gen, {4, 512}, 0.0f, 2.0f);
  const torch::Tensor theirs =
      torch::linear(to_torch(input), to_torch(op.weights), to_torch(op.bias));
  EXPECT_TRUE(close(run_last_node(builder.graph(), input), theirs, 1e-4));
}

// ---- quantized convolutions against torch in double --------------------------

// Per-sample dequantized activations [N, C, H, W] in double.
torch::Tensor dequantize_to_double(const Tensor& q) {
  torch::Tensor values =
      q.dtype() == DType::kU8
          ? torch::from_blob(const_cast<void*>(q.raw()), q.shape().dims(), torch::kUInt8)
          : torch::from_blob(const_cast<void*>(q.raw()), q.shape().dims(), torch::kInt8);
  std::vector<double> scales(q.scales().begin(), q.scales().end());
  torch::Tensor s =
      torch::from_blob(scales.data(), {q.shape()[0], 1, 1, 1}, torch::kFloat64).clone();
  return values.to(torch::kFloat64) * s;
}

// Dense weights [O, I, KH, KW] (int8 values) times per-channel scales, in double.
torch::Tensor weights_to_double(const std::vector<int8_t>& values, const std::vector<float>& scales,
                                std::vector<int64_t> shape) {
  torch::Tensor w =
      torch::from_blob(const_cast<int8_t*>(values.data()), shape, torch::kInt8).to(torch::kFloat64);
  std::vector<double> s(scales.begin(), scales.end());
  return w * torch::from_blob(s.data(), {shape[0], 1, 1, 1}, torch::kFloat64).clone();
}

torch::Tensor bias_to_double(const std::vector<float>& bias) {
  std::vector<double> b(bias.begin(), bias.end());
  return torch::from_blob(b.data(), {static_cast<int64_t>(b.size())}, torch::kFloat64).clone();
}

struct SparseCase {
  int density;
  int stride;
  DType input_dtype;
};

class SparseConvVsTorch : public TorchOracle, public ::testing::WithParamInterface<SparseCase> {};

TEST_P(SparseConvVsTorch, MatchesDoubleConvOnDequantizedOperands) {
  const SparseCase p = GetParam();
  auto gen = testing::rng(static_cast<uint32_t>(100 * p.density + p.stride));
  const int in_channels = 64, out_channels = 64, size = 28;
  SparseConv3x3Op op;
  op.stride = p.stride;
  op.density = p.density;
  op.out_channels = out_channels;
  op.in_channels = in_channels;
  op.taps = testing::random_taps(gen, out_channels, in_channels, p.density);
  op.weight_scales = testing::random_floats(gen, out_channels, 0.005f, 0.05f);
  op.bias = testing::random_floats(gen, out_channels, -1.0f, 1.0f);
  ModelBuilder builder;
  builder.sparse_conv3x3(builder.input({in_channels, size, size}, p.input_dtype), op);
  Tensor input(Shape{2, in_channels, size, size}, p.input_dtype);
  {
    std::uniform_int_distribution<int> value(p.input_dtype == DType::kU8 ? 0 : -127,
                                             p.input_dtype == DType::kU8 ? 255 : 127);
    auto* bytes = static_cast<uint8_t*>(input.raw());
    for (size_t e = 0; e < input.bytes(); ++e) bytes[e] = static_cast<uint8_t>(value(gen));
    input.scales()[0] = 0.0173f;
    input.scales()[1] = 0.00291f;
  }
  const Tensor ours = run_last_node(builder.graph(), input);

  const auto dense = unpack_taps(op.taps, out_channels, in_channels, p.density);
  const torch::Tensor x = dequantize_to_double(input);
  const torch::Tensor w =
      weights_to_double(dense, op.weight_scales, {out_channels, in_channels, 3, 3});
  const torch::Tensor products = torch::conv2d(x, w, {}, p.stride, 1);
  const torch::Tensor theirs = products + bias_to_double(op.bias).view({1, out_channels, 1, 1});
  // The error budget is relative to the two terms of the fma, not to their
  // (possibly cancelled) sum.
  const torch::Tensor magnitude =
      products.abs() + bias_to_double(op.bias).abs().view({1, out_channels, 1, 1});
  EXPECT_TRUE(close(ours, theirs, 1e-5, magnitude));
}

INSTANTIATE_TEST_SUITE_P(Densities, SparseConvVsTorch,
                         ::testing::Values(SparseCase{1, 1, DType::kU8},
                                           SparseCase{2, 2, DType::kU8},
                                           SparseCase{3, 1, DType::kS8},
                                           SparseCase{5, 2, DType::kS8},
                                           SparseCase{9, 1, DType::kU8}),
                         [](const auto& info) {
                           std::ostringstream name;
                           name << "k" << info.param.density << "_s" << info.param.stride << "_"
                                << to_string(info.param.input_dtype);
                           return name.str();
                         });

TEST_F(TorchOracle, DenseS4ConvMatchesDoubleConv) {
  auto gen = testing::rng(6);
  const int64_t in_channels = 32, out_channels = 48, size = 14;
  Conv2dOp op;
  op.pad_h = op.pad_w = 1;
  op.stride_h = op.stride_w = 2;
  op.weights = Tensor({out_channels, in_channels, 3, 3}, DType::kS4);
  std::vector<int8_t> values(static_cast<size_t>(op.weights.shape().elements()));
  std::uniform_int_distribution<int> value(-8, 7);
  auto* bytes = op.weights.data<uint8_t>();
  for (size_t e = 0; e < values.size(); ++e) {
    values[e] = static_cast<int8_t>(value(gen));
    bytes[e / 2] |= static_cast<uint8_t>((values[e] & 0x0F) << (e % 2 ? 4 : 0));
  }
  op.weight_scales = testing::random_floats(gen, out_channels, 0.01f, 0.1f);
  op.bias = testing::random_floats(gen, out_channels, -1.0f, 1.0f);
  ModelBuilder builder;
  builder.conv2d(builder.input({in_channels, size, size}, DType::kU8), op);
  const Tensor input = testing::random_u8(gen, {2, in_channels, size, size});
  const Tensor ours = run_last_node(builder.graph(), input);
  const torch::Tensor products = torch::conv2d(
      dequantize_to_double(input),
      weights_to_double(values, op.weight_scales, {out_channels, in_channels, 3, 3}), {}, 2, 1);
  const torch::Tensor bias = bias_to_double(op.bias).view({1, out_channels, 1, 1});
  EXPECT_TRUE(close(ours, products + bias, 1e-5, products.abs() + bias.abs()));
}

}  // namespace
}  // namespace sparq
